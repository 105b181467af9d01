// The unit tests' defaults for the one waitFor (test/harness/wait.ts): short deadline, fast polling.
import { waitFor as poll } from '../../../harness/wait.js';

export function waitFor<T>(probe: () => T | undefined | null | false, opts: { timeoutMs?: number; what?: string } = {}): Promise<T> {
  return poll(() => probe() ?? undefined, { timeoutMs: opts.timeoutMs ?? 5_000, intervalMs: 10, what: opts.what ?? 'condition' });
}
