import { defineConfig } from 'vitest/config';

// Integration tests start real etcd/Patroni/PostgreSQL clusters; each file owns one,
// so files run one at a time to keep a 2-core machine predictable.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // The default report, then one plain closing line for CI logs (N passed, M failed).
    reporters: ['default', './test/helpers/closing-line-reporter.ts'],
  },
});
