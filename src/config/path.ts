// Key paths: how an issue names the place it is about, in the spelling an operator sees in the
// file ("listeners[1].bind"), and how TypeBox's JSON pointers map onto them.

export type KeyPath = readonly (string | number)[];

/** An issue before it is placed on a line of the file (see locate.ts). */
export interface PathIssue {
  readonly path: KeyPath;
  readonly message: string;
}

/** ["listeners", 1, "bind"] → "listeners[1].bind"; [] → "". */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

/**
 * RFC 6901 pointer ("/listeners/1/bind") → key path. A segment is a number only where the value
 * being walked is an array, so a map key spelled "1" stays a string.
 */
export function pointerToPath(pointer: string, root: unknown): KeyPath {
  if (pointer === '') return [];
  const out: (string | number)[] = [];
  let node: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node) && /^\d+$/.test(seg)) {
      out.push(Number(seg));
      node = node[Number(seg)];
    } else {
      out.push(seg);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}
