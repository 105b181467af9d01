// The test parser is strict so that scraping pgrouter in tests also validates its output.
import { describe, expect, it } from 'vitest';
import { parsePrometheusText, sumOf, valueOf } from '../../helpers/prom-text.js';

const valid = [
  '# HELP a_total Things, with a \\\\ backslash.',
  '# TYPE a_total counter',
  'a_total{x="1",y="q\\"uote\\\\d\\nline"} 3',
  'a_total{x="2"} 4 1700000000000',
  '# TYPE h histogram',
  'h_bucket{le="0.5"} 1',
  'h_bucket{le="+Inf"} 2',
  'h_sum 0.75',
  'h_count 2',
  '# TYPE g gauge',
  'g NaN',
  '',
].join('\n');

describe('parsePrometheusText', () => {
  it('reads families, help, labels with escapes, values, histograms', () => {
    const f = parsePrometheusText(valid);
    expect(f.get('a_total')).toMatchObject({ type: 'counter', help: 'Things, with a \\ backslash.' });
    expect(valueOf(f, 'a_total', { y: 'q"uote\\d\nline' })).toBe(3);
    expect(sumOf(f, 'a_total')).toBe(7);
    expect(valueOf(f, 'h_count')).toBe(2);
    expect(valueOf(f, 'h_bucket', { le: '+Inf' })).toBe(2);
    expect(valueOf(f, 'g')).toBeNaN();
  });

  it.each([
    ['a sample of no declared family', 'x 1\n'],
    ['a bad metric name', '# TYPE 1x gauge\n1x 1\n'],
    ['a bad value', '# TYPE x gauge\nx one\n'],
    ['an unquoted label value', '# TYPE x gauge\nx{a=1} 1\n'],
    ['a bad escape', '# TYPE x gauge\nx{a="\\t"} 1\n'],
    ['a duplicate series', '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n'],
    ['a negative counter', '# TYPE x_total counter\nx_total -1\n'],
    ['non-cumulative buckets', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n'],
    ['a histogram count that is not its +Inf bucket', '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 2\n'],
    ['a second TYPE line', '# TYPE x gauge\n# TYPE x gauge\n'],
    ['no final newline', '# TYPE x gauge\nx 1'],
  ])('rejects %s', (_what, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });

  it('asks for exactly one sample when reading a value', () => {
    const f = parsePrometheusText(valid);
    expect(() => valueOf(f, 'a_total')).toThrow(/found 2/);
    expect(() => valueOf(f, 'nope')).toThrow(/found 0/);
  });
});
