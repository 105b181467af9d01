"""Cancels `select pg_sleep(5)` N times through one port with libpq's PQcancel (psycopg2).

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
results = []
for _ in range(count):
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=20)
    cur = conn.cursor()
    sent = {}

    def cancel_soon():
        time.sleep(0.3)  # let the query start on the server
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
