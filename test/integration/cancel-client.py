"""Cancels `select pg_sleep(5)` N times through one port with libpq's PQcancel (psycopg2).

Usage: cancel-client.py ROUTER_PORT COUNT NODE_PORT [NODE_PORT ...]
Before each cancel it waits until the query is really sleeping on whichever node it landed on
(pg_stat_activity, by a unique application_name), so a slow machine cannot turn a fixed
delay into a cancel that arrives before the query and is ignored.

Prints one JSON line: how many cancels took effect and how long each took after cancel().
A cancel 'takes effect' when the query fails with QueryCanceled within 1 s of cancel().
"""
import json
import sys
import threading
import time

import psycopg2
import psycopg2.errors

port, count = int(sys.argv[1]), int(sys.argv[2])
node_ports = [int(p) for p in sys.argv[3:]]
watchers = [psycopg2.connect(host="127.0.0.1", port=p, user="postgres", dbname="postgres") for p in node_ports]
for w in watchers:
    w.autocommit = True


def sleeping(app):
    for w in watchers:
        with w.cursor() as c:
            c.execute("select 1 from pg_stat_activity where application_name = %s and wait_event = 'PgSleep'", (app,))
            if c.fetchone():
                return True
    return False

results = []
for i in range(count):
    app = "pgr-cancel-%d-%d" % (port, i)
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=20, application_name=app)
    cur = conn.cursor()
    sent = {}

    def cancel_soon():
        deadline = time.monotonic() + 4
        while not sleeping(app) and time.monotonic() < deadline:
            pass  # poll the condition; each check is a round trip to every node
        sent["at"] = time.monotonic()
        conn.cancel()

    t = threading.Thread(target=cancel_soon)
    t.start()
    outcome = "not_cancelled"
    try:
        cur.execute("select pg_sleep(5)")
    except psycopg2.errors.QueryCanceled:
        outcome = "cancelled"
    except Exception as e:  # report, do not hide
        outcome = "error: %s" % (str(e).strip(),)
    done = time.monotonic()
    t.join()
    results.append({"outcome": outcome, "seconds_after_cancel": round(done - sent.get("at", done), 3)})
    conn.close()

ok = sum(1 for r in results if r["outcome"] == "cancelled" and r["seconds_after_cancel"] < 1.0)
print(json.dumps({"ok": ok, "count": count, "results": results}))
