// Entry point of a data-path worker (cluster.setupPrimary({ exec }) runs the compiled
// dist/src/cluster/worker-main.js). Everything it does comes from the primary over IPC.
import cluster from 'node:cluster';
import { WorkerProcess } from './worker.js';

if (!cluster.isWorker || !process.send) {
  process.stderr.write('pgrouter: worker-main is started by the pgrouter primary, not by hand\n');
  process.exit(2);
}

// The primary owns the lifecycle. A terminal's Ctrl-C (SIGINT), a hangup (SIGHUP) and systemd's
// KillMode=control-group (SIGTERM) reach every process of the group; a worker that died of them
// would cut its sessions before the primary's orderly drain. So the worker lets them pass, and
// the primary's `shutdown` / `drain` messages (or losing the primary) end it.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    // Handled by the primary; the listener only replaces Node's default "exit" action.
  });
}

const worker = new WorkerProcess(
  {
    send: (m, onError) => {
      // With a callback, a closed channel is reported here instead of as a process 'error'
      // event, which would be an uncaught exception.
      process.send?.(m, undefined, undefined, (err: Error | null) => {
        if (err) onError(err);
      });
    },
    onMessage: (fn) => process.on('message', fn),
    onDisconnect: (fn) => process.on('disconnect', fn),
    exit: (code) => process.exit(code),
  },
  // The slot the supervisor forked it for: named in the cancel keys it makes (rewrite_keys).
  { pid: process.pid, workerId: cluster.worker?.id ?? 0, slot: Number(process.env.PGROUTER_WORKER_SLOT ?? 0) || 0 },
);
worker.start();
