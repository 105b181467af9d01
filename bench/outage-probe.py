#!/usr/bin/python3
"""Write-outage probe: what an application that connects per request sees during a failover.

Every --interval-ms it opens ONE NEW connection with libpq (psycopg2) and commits one
`INSERT INTO bench_outage(t) VALUES (now())` in autocommit, then closes it. Attempts run one
after another: an attempt that hangs delays the next one, as it would for a real client.

The conninfo is plain libpq, so the same probe measures every path:
  pgrouter RW port   host=127.0.0.1 port=P
  HAProxy primary    host=127.0.0.1 port=P
  libpq multi-host   host=127.0.0.1,127.0.0.1,127.0.0.1 port=p1,p2,p3 target_session_attrs=read-write
                     (the client-side limit: no proxy, the client finds the writable node itself)

It runs for --duration seconds or until --stop-file exists (or SIGTERM/SIGINT), then prints one
JSON summary line. With --events it also prints one JSON line per attempt as it happens, so the
orchestrator can tell when steady state is reached.

worst_outage_s is the largest gap between the completions of two consecutive successful
commits: the longest time during which the application could not get a write in. If the probe
stops while writes still fail, the time since the last success counts as a gap too
(unrecovered: true).

The connection is driven in psycopg2's asynchronous mode so every attempt has a hard deadline
(--connect-timeout for the connect, and again for the INSERT) even when a peer accepts and then
says nothing; libpq's own connect_timeout does not cover the query phase.
"""

import argparse
import json
import os
import select
import signal
import sys
import time

import psycopg2
import psycopg2.extensions

INSERT = "INSERT INTO bench_outage(t) VALUES (now())"


class AttemptTimeout(Exception):
    pass


def wait_ready(conn, deadline):
    """Polls an async connection until the current operation completes or the deadline passes."""
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        left = deadline - time.time()
        if left <= 0:
            raise AttemptTimeout("timed out")
        # The fd can change while libpq walks a multi-host list, so read it on every round.
        fd = conn.fileno()
        if state == psycopg2.extensions.POLL_READ:
            select.select([fd], [], [], left)
        elif state == psycopg2.extensions.POLL_WRITE:
            select.select([], [fd], [], left)
        else:
            raise psycopg2.OperationalError("bad poll state %r" % (state,))


def one_attempt(dsn, timeout_s):
    """Returns (ok, phase, error); phase says where it failed: connect or insert."""
    conn = None
    phase = "connect"
    try:
        conn = psycopg2.connect(dsn, async_=True)
        wait_ready(conn, time.time() + timeout_s)
        phase = "insert"
        # Async connections are always in autocommit: the INSERT commits on its own.
        cur = conn.cursor()
        cur.execute(INSERT)
        wait_ready(conn, time.time() + timeout_s)
        return True, None, None
    except (psycopg2.Error, AttemptTimeout, OSError) as e:
        # libpq reports one line per host tried (multi-host); keep them all, briefly, so the
        # error histogram says why every host was passed over, not just the first.
        lines = [
            line.strip() for line in str(e).strip().splitlines()
            if line.strip() and not line.strip().startswith("Is the server running")
        ] or [type(e).__name__]
        return False, phase, "%s: %s" % (type(e).__name__, " | ".join(lines)[:300])
    finally:
        if conn is not None:
            conn.close()


def percentile(sorted_xs, p):
    if not sorted_xs:
        return None
    k = min(len(sorted_xs) - 1, max(0, int(round(p / 100.0 * (len(sorted_xs) - 1)))))
    return sorted_xs[k]


def summarize(label, attempts, started, ended):
    oks = [a for a in attempts if a["ok"]]
    fails = [a for a in attempts if not a["ok"]]
    ok_ends = [a["end"] for a in oks]
    worst = 0.0
    worst_from = worst_to = None
    gaps = []
    for prev, cur in zip(ok_ends, ok_ends[1:]):
        gap = cur - prev
        gaps.append(gap)
        if gap > worst:
            worst, worst_from, worst_to = gap, prev, cur
    # Failures after the last success mean the path never came back before the probe stopped;
    # the outage is then at least (end of probe - last success), reported separately.
    last_ok = ok_ends[-1] if ok_ends else None
    unrecovered = bool(fails) and (last_ok is None or fails[-1]["end"] > last_ok)
    tail = ended - (last_ok if last_ok is not None else started) if unrecovered else 0.0
    # An outage still going on when the probe stops is at least as long as its tail so far.
    if tail > worst:
        worst, worst_from, worst_to = tail, (last_ok if last_ok is not None else started), ended
    # The client errors an application saw, by where the attempt failed: "connect" (refused,
    # reset, or FATAL during the startup: a proxy that held the client would have hidden it)
    # and "insert" (the server went away under a running statement).
    failed_by_phase = {"connect": 0, "insert": 0}
    for a in fails:
        failed_by_phase[a["phase"]] = failed_by_phase.get(a["phase"], 0) + 1
    errors = {}
    for a in fails:
        key = "%s: %s" % (a["phase"], a["err"])
        errors[key] = errors.get(key, 0) + 1
    lat = sorted(a["end"] - a["start"] for a in oks)
    gaps_sorted = sorted(gaps)
    return {
        "ev": "summary",
        "label": label,
        "started_at": started,
        "ended_at": ended,
        "attempts": len(attempts),
        "ok": len(oks),
        "failed": len(fails),
        "failed_by_phase": failed_by_phase,
        "worst_outage_s": round(worst, 4),
        "worst_outage_from": worst_from,
        "worst_outage_to": worst_to,
        "first_fail_at": fails[0]["start"] if fails else None,
        "last_fail_at": fails[-1]["end"] if fails else None,
        "fail_span_s": round(fails[-1]["end"] - fails[0]["start"], 4) if fails else 0.0,
        "unrecovered": unrecovered,
        "tail_outage_s": round(tail, 4),
        "median_gap_s": round(percentile(gaps_sorted, 50), 4) if gaps_sorted else None,
        "attempt_latency_p50_s": round(percentile(lat, 50), 5) if lat else None,
        "attempt_latency_p99_s": round(percentile(lat, 99), 5) if lat else None,
        "errors": errors,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", required=True, help="libpq conninfo string")
    ap.add_argument("--label", default="probe")
    ap.add_argument("--interval-ms", type=float, default=20.0)
    ap.add_argument("--connect-timeout", type=float, default=10.0, help="seconds, per phase of an attempt")
    ap.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until the stop file or a signal")
    ap.add_argument("--stop-file", default=None)
    ap.add_argument("--events", action="store_true", help="also print one JSON line per attempt")
    args = ap.parse_args()

    stopping = {"flag": False}

    def on_signal(_signum, _frame):
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    interval = args.interval_ms / 1000.0
    attempts = []
    started = time.time()
    next_at = started
    out = sys.stdout
    while not stopping["flag"]:
        if args.duration > 0 and time.time() - started >= args.duration:
            break
        if args.stop_file and os.path.exists(args.stop_file):
            break
        now = time.time()
        if now < next_at:
            time.sleep(next_at - now)
        t0 = time.time()
        ok, phase, err = one_attempt(args.dsn, args.connect_timeout)
        t1 = time.time()
        rec = {"i": len(attempts), "start": t0, "end": t1, "ok": ok, "phase": phase, "err": err}
        attempts.append(rec)
        if args.events:
            out.write(json.dumps(dict(rec, ev="attempt")) + "\n")
            out.flush()
        # Fixed cadence from the last start; a slow attempt is followed at once, never by a burst.
        next_at = max(t0 + interval, t1)
    out.write(json.dumps(summarize(args.label, attempts, started, time.time())) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
