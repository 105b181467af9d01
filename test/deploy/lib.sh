# shellcheck shell=bash
# Helpers of the deploy test: results, bounded waits, SQL through the routers, TCP probes.
# Sourced by run.sh after hosts.sh.

PASSED=0
FAILED=0
FAILURES=()

pass() { PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); printf '  FAIL  %s\n' "$1"; }

# check "sentence" command...: one result line per check.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

step() { printf '\n== %s (%ss)\n' "$*" "$(elapsed)"; }

T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

# wait_until SECONDS command...: polls every 0.2 s until the command succeeds or time is up.
wait_until() {
  local limit=$1 deadline
  shift
  deadline=$(awk -v a="$(date +%s.%N)" -v l="$limit" 'BEGIN { printf "%.3f", a + l }')
  while :; do
    "$@" && return 0
    awk -v d="$deadline" -v n="$(date +%s.%N)" 'BEGIN { exit !(n > d) }' && return 1
    sleep 0.2
  done
}

# sql IP PORT QUERY [HOSTNAME]: psql from the client host through a node's pgrouter with
# sslmode=verify-full (HOSTNAME is the name checked against the certificate, default the IP).
sql() {
  local ip=$1 port=$2 query=$3 name=${4:-$1}
  on_client env PGPASSWORD="$SUPERUSER_PASSWORD" PGCONNECT_TIMEOUT=3 psql -X -q -At -v ON_ERROR_STOP=1 \
    "host=$name hostaddr=$ip port=$port dbname=postgres user=postgres sslmode=verify-full sslrootcert=$CA" \
    -c "$query" 2>"$WORK/sql.err"
}

# local_sql NODE QUERY: psql on the node itself, over PostgreSQL's Unix socket (peer auth).
local_sql() {
  on_node "$1" runuser -u postgres -- psql -h /run/postgresql -p 5442 -X -At -c "$2" 2>/dev/null
}

# The Patroni leader's name, from pg1's patronictl (empty when there is none).
leader_name() {
  on_node "${1:-pg1}" patronictl -c /etc/patroni/config.yml list -f json 2>/dev/null |
    python3 -c 'import json,sys; print(next((m["Member"] for m in json.load(sys.stdin) if m["Role"] == "Leader"), ""))'
}

quiet() { "$@" >/dev/null 2>&1; }

# probe NETNS IP PORT: prints open (connected), refused (RST: reached, nothing listening) or
# dropped (no answer within 3 s). NETNS "root" is this namespace (the admin box).
probe() {
  local out rc in=(ip netns exec "$1")
  [ "$1" != root ] || in=()
  out=$("${in[@]}" timeout 3 bash -c "exec 3<>/dev/tcp/$2/$3" 2>&1)
  rc=$?
  if [ $rc -eq 0 ]; then echo open
  elif [ $rc -eq 124 ]; then echo dropped
  elif [[ $out == *refused* ]]; then echo refused
  else echo "error: $out"
  fi
}

# recap_clean LOG: every host of the run's PLAY RECAP reports changed=0, failed=0, unreachable=0.
recap_clean() {
  awk '/^PLAY RECAP/ { on = 1; next } on && /ok=/ { n++; if ($0 !~ / changed=0 / || $0 !~ / failed=0 / || $0 !~ / unreachable=0 /) bad++ }
       END { exit !(n > 0 && bad == 0) }' "$1"
}

recap_ok() {
  awk '/^PLAY RECAP/ { on = 1; next } on && /ok=/ { n++; if ($0 !~ / failed=0 / || $0 !~ / unreachable=0 /) bad++ }
       END { exit !(n > 0 && bad == 0) }' "$1"
}
