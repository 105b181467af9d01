// Binding a set of listeners as one step: a start, or a reload's added listeners (data-path.ts).
import type { Listener } from './listener.js';

/** Binds the listeners together; if one fails, closes them all again and throws its error. */
export async function bindAll(targets: ReadonlyArray<{ readonly listener: Listener; readonly path: string }>): Promise<void> {
  const results = await Promise.allSettled(targets.map((t) => t.listener.start(t.path)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed) return;
  await Promise.all(targets.map((t) => t.listener.stopAccepting()));
  throw failed.reason;
}
