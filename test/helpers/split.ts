// Cuts a buffer into consecutive chunks at the given offsets, as TCP reads may (property tests
// of the decoders: a split anywhere must decode as the whole). Offsets wrap around the length,
// so any natural number is a valid cut; duplicates collapse. The chunks share `buf`'s memory.
export function split(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const c of [...at, buf.length]) {
    if (c > from) chunks.push(buf.subarray(from, c));
    from = Math.max(from, c);
  }
  return chunks;
}
