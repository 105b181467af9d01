// Places a key path on a line of the YAML source, so issues read like `haproxy -c` output
// ("pgrouter.yaml:12: listeners[1].bind: ..."). Map entries point at their key's line (the
// value may be a block that starts lines later), list entries at the item's first line.
// A path that does not exist in the file (a missing key, a default) points at its deepest
// existing ancestor, or at no line when even the top-level key is absent.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { KeyPath } from './path.js';

export function lineOf(doc: Document, lines: LineCounter, path: KeyPath): number | null {
  const lineAt = (node: Node | null | undefined): number | null =>
    node?.range ? lines.linePos(node.range[0]).line : null;
  let node: unknown = doc.contents;
  if (path.length === 0) return lineAt(node as Node | null);
  let line: number | null = null;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return line;
      line = lineAt(pair.key as Node) ?? lineAt(pair.value as Node | null) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) return line;
      line = lineAt(item as Node) ?? line;
      node = item;
    } else {
      return line;
    }
  }
  return line;
}
