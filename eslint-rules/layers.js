// The layering of src/, enforced: a part imports only the parts below it. One ordered list
// (LAYERS, lowest first) is the whole policy; docs/architecture.md explains each part and its
// place, and shows the same order as a diagram.
//
//   - Every folder under src/ is one part. A file at the root of src/ must be in KERNEL: the
//     small helpers every part may import, which import no part themselves.
//   - Parts on the same level do not import each other either (discovery and routing, view and
//     protocol): a level is a set of independent parts.
//   - FORBIDDEN removes edges the order alone would allow: the data path (sessions, relay,
//     proxy) sits above discovery but consumes views only, through src/view; the HTTP surface
//     and the exporter sit above the planes but get what they show from the Router
//     (RouterControl, MetricsSources), never by importing the planes or the data path.
//   - PURE parts (the contracts and the wire format) import no package and no Node built-in
//     but Buffer's, and no logger: no sockets, timers or I/O.
// Type-only imports count too: a type import is a dependency on that part's contract.
import path from 'node:path';

export const LAYERS = [
  ['config'],
  ['view', 'protocol'],
  ['discovery', 'routing'],
  ['sessions'],
  ['relay'],
  ['proxy'],
  ['plane'],
  ['cluster'],
  ['http'],
  ['metrics'],
  ['router'],
  ['cli'],
];

export const KERNEL = ['errors.ts', 'log.ts', 'backoff.ts'];

const VIEWS_ONLY = 'the data path consumes views through src/view, never discovery';
const THROUGH_ROUTER = 'the surface gets what it shows from the Router (RouterControl, MetricsSources)';

export const FORBIDDEN = {
  sessions: { parts: ['discovery'], why: VIEWS_ONLY },
  relay: { parts: ['discovery'], why: VIEWS_ONLY },
  proxy: { parts: ['discovery'], why: VIEWS_ONLY },
  http: { parts: ['discovery', 'relay', 'proxy', 'plane', 'cluster'], why: THROUGH_ROUTER },
  metrics: { parts: ['relay', 'proxy', 'plane', 'cluster'], why: THROUGH_ROUTER },
};

export const PURE = {
  parts: ['view', 'protocol'],
  packages: ['node:buffer', 'buffer'],
  kernel: ['errors.ts'],
};

const rank = new Map(LAYERS.flatMap((level, i) => level.map((part) => [part, i])));
const ORDER = LAYERS.map((level) => level.join(', ')).join(' → ');

/** 'kernel:<file>', '<part>', or 'root:<file>' (a root file that is not kernel) for a path under src/. */
function partOf(relToSrc) {
  const segments = relToSrc.split(path.sep);
  if (segments.length === 1) return KERNEL.includes(segments[0]) ? `kernel:${segments[0]}` : `root:${segments[0]}`;
  return segments[0];
}

/** A relative import's target as a .ts path under src/, or null when it leaves src/. */
function resolveTarget(fromFile, spec, srcDir) {
  const target = path.resolve(path.dirname(fromFile), spec).replace(/\.js$/, '.ts');
  const rel = path.relative(srcDir, target);
  return rel.startsWith('..') || path.isAbsolute(rel) ? null : rel;
}

function sourceOf(node) {
  if (node.type === 'TSImportType') {
    const arg = node.argument;
    const value = arg?.literal?.value ?? arg?.value;
    return typeof value === 'string' ? { spec: value, at: arg } : null;
  }
  const s = node.source;
  return s && s.type === 'Literal' && typeof s.value === 'string' ? { spec: s.value, at: s } : null;
}

const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'Keeps the parts of src/ in their order (eslint-rules/layers.js, docs/architecture.md).' },
    schema: [],
    messages: {
      upward: '{{from}} may not import {{to}}: a part imports only the parts below it ({{order}}).',
      sibling: '{{from}} may not import {{to}}: they are on the same level ({{order}}).',
      forbidden: '{{from}} may not import {{to}}: {{why}}.',
      kernelImportsPart: 'the kernel ({{from}}) may import only other kernel files, not {{to}}.',
      unknownPart: '{{to}} is not a part: add the folder to LAYERS in eslint-rules/layers.js and to docs/architecture.md.',
      rootFile: '{{file}} sits at the root of src/ but is not kernel ({{kernel}}): move it into the folder of its part.',
      outsideSrc: '{{from}} may not import {{spec}}: src/ imports nothing outside src/ but packages.',
      impure: '{{from}} is pure (no sockets, timers, I/O or logger): it may not import {{spec}}.',
    },
  },
  create(context) {
    const filename = context.filename;
    const srcDir = path.join(context.cwd, 'src');
    const rel = path.relative(srcDir, filename);
    if (rel.startsWith('..') || path.isAbsolute(rel)) return {};
    const from = partOf(rel);
    const fromPart = from.startsWith('kernel:') ? 'kernel' : from;
    const pure = PURE.parts.includes(fromPart);

    const check = (node) => {
      const source = sourceOf(node);
      if (!source) return;
      const { spec, at } = source;
      const report = (messageId, data) => context.report({ node: at, messageId, data: { from: fromPart, order: ORDER, spec, ...data } });
      if (!spec.startsWith('.')) {
        if (pure && !PURE.packages.includes(spec)) report('impure');
        return;
      }
      const target = resolveTarget(filename, spec, srcDir);
      if (target === null) return report('outsideSrc');
      const to = partOf(target);
      if (to.startsWith('kernel:')) {
        if (pure && !PURE.kernel.includes(to.slice('kernel:'.length))) report('impure');
        return;
      }
      if (to.startsWith('root:')) return report('unknownPart', { to: to.slice('root:'.length) });
      if (fromPart === 'kernel') return report('kernelImportsPart', { to });
      if (to === fromPart || from.startsWith('root:')) return;
      if (!rank.has(to)) return report('unknownPart', { to });
      const forbidden = FORBIDDEN[fromPart];
      if (forbidden?.parts.includes(to)) return report('forbidden', { to, why: forbidden.why });
      const a = rank.get(fromPart);
      const b = rank.get(to);
      if (a === undefined) return;
      if (b > a) return report('upward', { to });
      if (b === a) return report('sibling', { to });
    };

    return {
      Program(node) {
        if (from.startsWith('root:')) context.report({ node, messageId: 'rootFile', data: { file: rel, kernel: KERNEL.join(', ') } });
        else if (fromPart !== 'kernel' && !rank.has(fromPart)) context.report({ node, messageId: 'unknownPart', data: { to: fromPart } });
      },
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
      TSImportType: check,
    };
  },
};

export default { rules: { layers: rule } };
