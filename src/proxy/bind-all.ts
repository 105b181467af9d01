// Binding a set of listeners as one step (start, and a reload's added listeners): all bound, or
// none left open and the first error thrown (PGR_ERR_BIND names the key, e.g. listeners[2].bind).
import type { Listener } from './listener.js';

export async function bindAll(targets: ReadonlyArray<{ readonly listener: Listener; readonly path: string }>): Promise<void> {
  const results = await Promise.allSettled(targets.map((t) => t.listener.start(t.path)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed) return;
  await Promise.all(targets.map((t) => t.listener.stopAccepting()));
  throw failed.reason;
}
