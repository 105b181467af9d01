// cockatiel policies for etcd3's fault handling, replacing its defaults.
//
// Per host, etcd3 1.1.2 wraps calls in a circuit breaker (3 consecutive failures → every call is
// rejected for 5 s without trying): after an etcd outage that adds up to 5 s before we even try
// the host again, on top of our own 250 ms → 5 s backoff. EtcdSource owns retries, so each call
// goes straight through (passThroughPolicy).
//
// Globally, etcd3 retries a "recoverable" error 3 times, each attempt with a fresh deadline: a
// frozen etcd (SIGSTOP, partition) would take 3 × dial_timeout to report. acrossHosts() tries
// each configured host at most once (etcd3 walks a shuffled host list across attempts) and
// stops once dial_timeout is spent, so one read fails within about one dial_timeout.
//
// The types come from etcd3's IOptions so we do not import cockatiel (a transitive dependency).
import { isRecoverableError, type IOptions } from 'etcd3';

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type HostPolicy = ReturnType<NonNullable<FaultHandling['host']>>;
type GlobalPolicy = NonNullable<FaultHandling['global']>;

const noEvent = () => ({ dispose: () => undefined });

type Fn<T> = (context: { signal: AbortSignal }) => PromiseLike<T> | T;

function policy(execute: <T>(fn: Fn<T>, signal?: AbortSignal) => Promise<T>): HostPolicy & GlobalPolicy {
  // `_altReturn` is a type-only marker in cockatiel's IPolicy ("will not actually be defined").
  return { onSuccess: noEvent, onFailure: noEvent, execute } as unknown as HostPolicy & GlobalPolicy;
}

export function passThroughPolicy(): HostPolicy {
  return policy(async (fn, signal) => fn({ signal: signal ?? new AbortController().signal }));
}

export function acrossHosts(hosts: number, budgetMs: number): GlobalPolicy {
  return policy(async (fn, signal) => {
    const started = Date.now();
    const context = { signal: signal ?? new AbortController().signal };
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(context);
      } catch (err) {
        const recoverable = typeof err === 'object' && err !== null && isRecoverableError(err as Error);
        if (!recoverable || attempt >= hosts || Date.now() - started >= budgetMs) throw err;
      }
    }
  });
}
