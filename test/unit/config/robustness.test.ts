import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../../src/config/load.js';

const opts = { env: {}, readFile: () => '' };

/** Deterministic PRNG (mulberry32) so a failure is reproducible from its seed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('loadConfigText on hostile input', () => {
  it.each([
    ['a self-referencing alias', 'cluster: &c\n  scope: x\n  self: *c\n'],
    ['an alias bomb', 'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n'],
    ['an unknown tag', 'cluster: !vault secret/pg\n'],
    ['a binary tag', 'cluster: !!binary aGVsbG8=\n'],
    ['two documents', 'cluster: {}\n---\ncluster: {}\n'],
    ['a scalar', '42\n'],
    ['deep nesting', `${'['.repeat(500)}${']'.repeat(500)}\n`],
    ['a __proto__ key', 'cluster:\n  scope: pg\n  etcd: { hosts: [a:1] }\n__proto__: { polluted: true }\n'],
  ])('reports %s as issues instead of throwing', (_name, text) => {
    const r = loadConfigText(text, opts);
    expect(r.ok).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('never throws on 500 random YAML-ish texts, and every issue has a path, a line or null, and a message', () => {
    const alphabet = ['cluster', 'scope', 'etcd', 'hosts', 'listeners', ':', ' ', '\n', '  ', '- ', '{', '}', '[', ']', ',', '"', '&a', '*a', '4s', 'bind', ':5432', 'role', 'primary', '#', '!', '|', '>'];
    const next = rng(42);
    for (let n = 0; n < 500; n++) {
      let text = '';
      const len = Math.floor(next() * 60);
      for (let i = 0; i < len; i++) text += alphabet[Math.floor(next() * alphabet.length)];
      const r = loadConfigText(text, opts);
      if (!r.ok) {
        for (const issue of r.issues) {
          expect(typeof issue.path).toBe('string');
          expect(issue.line === null || (Number.isInteger(issue.line) && issue.line >= 1)).toBe(true);
          expect(issue.message.length).toBeGreaterThan(0);
        }
      }
    }
  });
});
