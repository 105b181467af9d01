"""Connects with psycopg2 (libpq) once per DSN and reports how each connection went.

Usage: tls-client.py PASSWORD DSN [DSN ...]   (PGSSLROOTCERT etc. come from the environment)
Prints one JSON list: per DSN {"ok", "client_tls", "server_tls", "error"}. client_tls is
libpq's own view of its connection (conn.info.ssl_in_use); server_tls is PostgreSQL's
(pg_stat_ssl of the session): through a router the two legs can differ.
"""
import json
import sys

import psycopg2

password = sys.argv[1]
out = []
for dsn in sys.argv[2:]:
    try:
        conn = psycopg2.connect(dsn, password=password, connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute("select coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false)")
                server_tls = bool(cur.fetchone()[0])
            out.append({"ok": True, "client_tls": bool(conn.info.ssl_in_use), "server_tls": server_tls, "error": None})
        finally:
            conn.close()
    except Exception as e:  # report, do not hide: the table shows it
        out.append({"ok": False, "client_tls": None, "server_tls": None, "error": str(e).strip()})
print(json.dumps(out))
