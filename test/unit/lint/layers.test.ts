// The layering rule (eslint-rules/layers.js) on small sources: what the order allows, what it
// refuses, and the edges and parts it adds to the plain order.
import path from 'node:path';
import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import layers, { FORBIDDEN, KERNEL, LAYERS } from '../../../eslint-rules/layers.js';

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const tester = new RuleTester({ languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: 'module' } });
const file = (rel: string): string => path.join(process.cwd(), rel);
const ok = (rel: string, code: string) => ({ filename: file(rel), code });
const bad = (rel: string, code: string, messageId: string) => ({ filename: file(rel), code, errors: [{ messageId }] });

describe('the order of the parts', () => {
  it('puts config at the bottom, the CLI at the top, and the data path below the planes', () => {
    const flat = LAYERS.flat();
    const at = (part: string): number => LAYERS.findIndex((level) => level.includes(part));
    expect(flat[0]).toBe('config');
    expect(flat[flat.length - 1]).toBe('cli');
    expect(at('view')).toBeLessThan(at('discovery'));
    const dataPathUp = ['sessions', 'relay', 'proxy', 'plane', 'cluster'].map(at);
    for (let i = 1; i < dataPathUp.length; i++) expect(dataPathUp[i]).toBeGreaterThan(dataPathUp[i - 1] ?? Infinity);
    expect(at('http')).toBeGreaterThan(at('cluster'));
    for (const part of ['sessions', 'relay', 'proxy']) expect(FORBIDDEN[part]?.parts).toEqual(['discovery']);
    expect(FORBIDDEN['http']?.parts).toEqual(expect.arrayContaining(['plane', 'cluster']));
    expect(KERNEL).toEqual(['errors.ts', 'log.ts', 'backoff.ts']);
  });
});

tester.run('pgrouter/layers', layers.rules.layers, {
  valid: [
    ok('src/proxy/x.ts', "import { a } from '../sessions/traffic.js'; import type { B } from '../view/cluster-view.js'; import { c } from '../relay/relay.js';"),
    ok('src/proxy/x.ts', "import net from 'node:net'; import { d } from '../errors.js'; import { e } from '../log.js'; import { f } from './listener.js';"),
    ok('src/plane/x.ts', "import { Discovery } from '../discovery/discovery.js';"),
    ok('src/cli/main.ts', "import { Router } from '../router/router.js'; import { HttpServer } from '../http/server.js';"),
    ok('src/protocol/x.ts', "import { MAX_CANCEL_KEY } from './cancel-key.js'; import { PgrError } from '../errors.js';"),
    ok('src/log.ts', "import { pino } from 'pino'; import { a } from './errors.js';"),
    ok('test/unit/x.test.ts', "import { Router } from '../../src/router/router.js'; import { y } from '../../src/discovery/discovery.js';"),
  ],
  invalid: [
    bad('src/sessions/x.ts', "import type { ClientSession } from '../proxy/client-session.js';", 'upward'),
    bad('src/http/admin-routes.ts', "import { describePlan } from '../plane/reload.js';", 'forbidden'),
    bad('src/metrics/x.ts', "import type { DataPath } from '../proxy/data-path.js';", 'forbidden'),
    bad('src/sessions/x.ts', "export { a } from '../plane/data-plane.js';", 'upward'),
    bad('src/sessions/x.ts', "export * from '../cluster/supervisor.js';", 'upward'),
    bad('src/config/x.ts', "const m = await import('../metrics/metrics.js');", 'upward'),
    bad('src/routing/x.ts', "type T = import('../proxy/listener.js').Listener;", 'upward'),
    bad('src/discovery/x.ts', "import { pick } from '../routing/pick.js';", 'sibling'),
    bad('src/proxy/x.ts', "import type { Discovery } from '../discovery/discovery.js';", 'forbidden'),
    bad('src/relay/x.ts', "import type { ProbeEvent } from '../discovery/prober.js';", 'forbidden'),
    bad('src/log.ts', "import type { Config } from './config/types.js';", 'kernelImportsPart'),
    bad('src/protocol/x.ts', "import net from 'node:net';", 'impure'),
    bad('src/view/x.ts', "import { createLogger } from '../log.js';", 'impure'),
    bad('src/proxy/x.ts', "import { waitFor } from '../../test/harness/wait.js';", 'outsideSrc'),
    bad('src/proxy/x.ts', "import { a } from '../gadgets/a.js';", 'unknownPart'),
    bad('src/app.ts', "export const x = 1;", 'rootFile'),
    bad('src/gadgets/a.ts', "export const x = 1;", 'unknownPart'),
  ],
});
