// The test harness's own error (real clusters, processes, waits), shared with the benchmarks.
// Its code is the harness's, not the router's: src/errors.ts lists only what src/ throws.

export class HarnessError extends Error {
  readonly code = 'PGR_ERR_HARNESS';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HarnessError';
  }
}
