# shellcheck shell=bash
# Helpers of test/containers/run.sh: a tally of checks, bounded waits, free ports and a view
# of a process tree. Sourced, not run.

PASSED=0
FAILED=0
SKIPPED=0
CHECK_N=0

section() { printf '\n==== %s ====\n' "$*"; }

# check NAME COMMAND...: runs COMMAND, counts it; its output goes to a log shown on failure.
check() {
  local name=$1
  shift
  CHECK_N=$((CHECK_N + 1))
  local log="$WORK/logs/$CHECK_N.log"
  if "$@" >"$log" 2>&1; then
    PASSED=$((PASSED + 1))
    printf 'ok    %s\n' "$name"
  else
    FAILED=$((FAILED + 1))
    printf 'FAIL  %s\n' "$name"
    tail -n 40 "$log" | sed 's/^/      | /'
  fi
}

pass() { PASSED=$((PASSED + 1)); printf 'ok    %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL  %s\n' "$*"; }
skip() { SKIPPED=$((SKIPPED + 1)); printf 'skip  %s\n' "$*"; }

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds; 1 on timeout.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# free_ports N: N distinct free loopback ports on one line (all held open at once while picked).
free_ports() {
  node -e "const net=require('net');const n=Number(process.argv[1]);
    Promise.all(Array.from({length:n},()=>new Promise((ok)=>{const s=net.createServer().listen(0,'127.0.0.1',()=>ok(s))})))
      .then((ss)=>{console.log(ss.map((s)=>s.address().port).join(' '));ss.forEach((s)=>s.close())})" "$1"
}

http_status() { # URL → the HTTP status code (000 when nothing answers)
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1"
}
http_ok() { [ "$(http_status "$1")" = 200 ]; }

# proc_tree PID: "pid ppid state uid command" for PID and every descendant.
proc_tree() {
  ps -e -o pid=,ppid=,stat=,uid=,args= | awk -v root="$1" '
    { pid[NR]=$1; ppid[NR]=$2; line[NR]=$0 }
    END {
      keep[root]=1
      do { changed=0; for (i=1;i<=NR;i++) if (!(pid[i] in keep) && (ppid[i] in keep)) { keep[pid[i]]=1; changed=1 } } while (changed)
      for (i=1;i<=NR;i++) if (pid[i] in keep) print line[i]
    }'
}
children() { ps -o pid= --ppid "$1" | tr -d ' '; }
zombies_under() { proc_tree "$1" | awk '$3 ~ /^Z/' | wc -l; }
