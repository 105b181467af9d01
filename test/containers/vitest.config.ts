import { defineConfig } from 'vitest/config';

// npm run test:containers runs these after rendering needs kubectl and promtool
// (test/containers/run.sh installs them); they stay out of `npm test` (*.check.ts).
export default defineConfig({
  test: {
    include: ['test/containers/checks/**/*.check.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
