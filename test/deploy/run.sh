#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# npm run test:deploy: deploys the whole stack with deploy/ onto three namespace hosts and
# checks it from the outside (issue 14, "Tests"):
#   lints; bundle.sh and pki.sh on the "admin box" (this namespace); bootstrap.sh on the three
#   nodes at once; verify.yml; a second run in push mode must report changed=0; the units
#   pass systemd-analyze verify and security; sslmode=verify-full through every node's RW and
#   RO ports; a write on RW is read on RO; the firewall answers what it allows and drops the
#   rest; the leader's Patroni is stopped: writes come back through another node's router and
#   the old leader comes back streaming. Everything is torn down in a trap, by PID.
# Runs as root (namespaces, mounts, apt). Prints "N passed, M failed" last.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DEPLOY=$REPO/deploy
PGRDEP_HERE=$HERE
# shellcheck source=hosts.sh
source "$HERE/hosts.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "test:deploy needs root (network and mount namespaces, apt-get)" >&2
  exit 1
fi

WORK=$PGRDEP_ROOT/admin
CLUSTER=pg1=${PGRDEP_IP[pg1]},pg2=${PGRDEP_IP[pg2]},pg3=${PGRDEP_IP[pg3]}
CLIENT_CIDR=198.18.0.24/29
ADMIN_CIDR=$PGRDEP_BRIDGE_IP/32
LB_IP=198.18.0.20
LB_NAME=db.pgrdep.test
export ANSIBLE_CONFIG=$DEPLOY/ansible.cfg ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0

# The run's logs and the services' output outlive the hosts, for a look after a failure.
LOGS=/tmp/pgrdep-logs
save_logs() {
  local n
  rm -rf "$LOGS"
  mkdir -p "$LOGS"
  cp "$WORK"/*.log "$LOGS/" 2>/dev/null
  for n in "${PGRDEP_NODES[@]}"; do
    for f in "$PGRDEP_ROOT/hosts/$n/run/fake-systemd/"*.log; do
      [ -e "$f" ] && cp "$f" "$LOGS/$n-$(basename "$f")"
    done
  done
  return 0
}

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  [ -d "$WORK" ] && save_logs
  if [ "${KEEP:-0}" = 1 ]; then
    echo "KEEP=1: hosts left running under $PGRDEP_ROOT (the next run removes them)"
  else
    hosts_destroy
  fi
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

step "system packages"
# Debian's packages of the stack (the roles find them installed) and the lint tools. The
# namespaces share /usr with this host, so nothing may be installed from inside them.
packages=(ansible-core ansible-lint yamllint shellcheck nftables systemd python3-apt etcd-server etcd-client
  patroni postgresql-15 postgresql-client-15 python3-psycopg2 openssl curl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  # No default PostgreSQL cluster on 5432 from the package's postinst.
  mkdir -p /etc/postgresql-common/createcluster.d
  [ -e /etc/postgresql-common/createcluster.d/pgrouter-no-main.conf ] ||
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/pgrouter-no-main.conf
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
[ -f "$REPO/dist/src/cli.js" ] || (cd "$REPO" && npm run build >/dev/null)

step "lints"
check "shellcheck passes on deploy/ and test/deploy/" \
  shellcheck -x "$DEPLOY"/*.sh "$DEPLOY"/lib/*.sh "$HERE"/*.sh
check "yamllint passes on deploy/" yamllint -s -c "$DEPLOY/.yamllint" "$DEPLOY"
ansible_lint() {
  (cd "$DEPLOY" && ansible-lint --offline -q --nocolor) >/tmp/pgrdep-ansible-lint.log 2>&1 ||
    { cat /tmp/pgrdep-ansible-lint.log; return 1; }
}
check "ansible-lint --offline passes on deploy/" ansible_lint

step "hosts"
hosts_destroy
mkdir -p "$PGRDEP_ROOT"
hosts_create
mkdir -p "$WORK"
echo "pg1 ${PGRDEP_IP[pg1]}, pg2 ${PGRDEP_IP[pg2]}, pg3 ${PGRDEP_IP[pg3]}, client ${PGRDEP_IP[cli]}, admin box $PGRDEP_BRIDGE_IP"

step "admin box: release bundle and PKI bundle"
"$DEPLOY/bundle.sh" --node-binary /usr/bin/node --out "$WORK/release" || exit 1
"$DEPLOY/pki.sh" --cluster "$CLUSTER" --name "$LB_NAME" --name "$LB_IP" --out "$WORK/pki" >"$WORK/pki.log" 2>&1 ||
  { cat "$WORK/pki.log"; exit 1; }
CA=$WORK/pki/ca.crt
SUPERUSER_PASSWORD=$(awk -F'"' '/^pgr_superuser_password:/ { print $2 }' "$WORK/pki/secrets.yml")
check "pki.sh writes secrets.yml with mode 0600" test "$(stat -c %a "$WORK/pki/secrets.yml")" = 600
# What the test changes besides its addresses: no watchdog (softdog would guard this shared
# machine's kernel, not a namespace).
cat >"$WORK/extra.yml" <<EOF
---
patroni_watchdog_mode: "off"
EOF

step "first run: bootstrap.sh on pg1, pg2 and pg3 at once"
# A PGPASSWORD in the caller's environment must not reach the services (see the check below).
deploy_start=$(now)
pids=()
for n in "${PGRDEP_NODES[@]}"; do
  on_node "$n" env PGPASSWORD=leaked-into-the-environment "$DEPLOY/bootstrap.sh" --node "$n" --cluster "$CLUSTER" \
    --client-cidr "$CLIENT_CIDR" --admin-cidr "$ADMIN_CIDR" --pki "$WORK/pki.nodes.tar.gz" \
    --release "$WORK/release" --extra-vars "$WORK/extra.yml" >"$WORK/bootstrap-$n.log" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  n=${PGRDEP_NODES[$i]}
  if wait "${pids[$i]}" && recap_ok "$WORK/bootstrap-$n.log"; then
    pass "bootstrap.sh --node $n succeeds"
  else
    fail "bootstrap.sh --node $n succeeds"
    grep -B5 -A15 'fatal:\|FAILED!' "$WORK/bootstrap-$n.log" | head -60
  fi
done
echo "bootstrap.sh on three nodes took $(since "$deploy_start") s"
# The rest checks a deployed cluster: without one it would only wait out every bound.
finish_early() {
  echo "$1: the remaining checks need a deployed cluster; stopping here"
  save_logs
  for f in "${FAILURES[@]}"; do echo "failed: $f"; done
  echo "$PASSED passed, $FAILED failed"
  exit 1
}
[ "$FAILED" -eq 0 ] || finish_early "a bootstrap failed"

# The push-mode inventory: the same cluster, each node reached through its namespaces.
{
  echo '---'
  echo 'all:'
  echo '  children:'
  echo '    pgrouter_nodes:'
  echo '      hosts:'
  for n in "${PGRDEP_NODES[@]}"; do
    echo "        $n:"
    echo "          pgr_node_ip: ${PGRDEP_IP[$n]}"
    echo "          ansible_connection: local"
    echo "          ansible_python_interpreter: nsenter --net=/run/netns/pgrdep-$n --mount=$PGRDEP_ROOT/ns/$n.mnt --uts=$PGRDEP_ROOT/ns/$n.uts /usr/bin/python3"
  done
  echo '  vars:'
  echo "    pgr_client_cidrs: [\"$CLIENT_CIDR\"]"
  echo "    pgr_admin_cidrs: [\"$ADMIN_CIDR\"]"
  echo "    pgr_client_names: [\"$LB_NAME\", \"$LB_IP\"]"
  echo "    pgr_pki_dir: $WORK/pki"
  echo "    pgr_release_dir: $WORK/release"
} >"$WORK/inventory.yml"
playbook() { ansible-playbook -i "$WORK/inventory.yml" -e "@$WORK/extra.yml" "$@"; }

step "verify.yml: etcd, Patroni, streaming, pgrouter"
# Each check of verify.yml waits at most 45 x 2 s for the members to converge.
if playbook -e verify_retries=45 "$DEPLOY/verify.yml" >"$WORK/verify.log" 2>&1; then
  pass "verify.yml passes on every node"
else
  fail "verify.yml passes on every node"
  grep -B3 -A12 'fatal:\|FAILED!\|^failed:' "$WORK/verify.log" | head -60
  finish_early "verify.yml failed"
fi
DEPLOY_TIME=$(since "$deploy_start")
FAILOVER=none
echo "deploy time (bootstrap start to verify.yml green): $DEPLOY_TIME s"

step "second run: site.yml in push mode changes nothing"
second_start=$(now)
playbook "$DEPLOY/site.yml" >"$WORK/second-run.log" 2>&1
SECOND_RECAP=$(awk '/^PLAY RECAP/ { on = 1; next } on && /ok=/' "$WORK/second-run.log" | tr -s ' ')
echo "$SECOND_RECAP"
echo "second run took $(since "$second_start") s"
if recap_clean "$WORK/second-run.log"; then
  pass "the second run reports changed=0 on every host"
else
  fail "the second run reports changed=0 on every host"
  grep -B2 -A6 '^changed:\|fatal:' "$WORK/second-run.log" | head -60
fi

step "a changed pgrouter setting reloads pgrouter and touches nothing else"
main_pids() { cat "$PGRDEP_ROOT"/hosts/pg1/run/fake-systemd/{etcd,patroni,pgrouter}.service.main | tr '\n' ' '; }
pids_before=$(main_pids)
reloads_before=$(grep -c '"msg":"configuration reloaded: listeners changed: ro' "$(unit_log pg1 pgrouter)")
playbook --limit pg1,localhost -e pgrouter_max_lag=2MB "$DEPLOY/site.yml" >"$WORK/change-run.log" 2>&1
handlers=$(grep -o '^RUNNING HANDLER \[[^]]*\]' "$WORK/change-run.log" | sed 's/RUNNING HANDLER //' | tr '\n' ' ')
check "only the handler 'Reload pgrouter' runs (ran: ${handlers:-none})" test "$handlers" = "[pgrouter : Reload pgrouter] "
check "etcd, Patroni and pgrouter keep their processes (a reload, no restart)" test "$(main_pids)" = "$pids_before"
# SIGHUP returns at once; pgrouter logs the outcome when it has applied the file.
reloaded() {
  [ "$(grep -c '"msg":"configuration reloaded: listeners changed: ro' "$(unit_log pg1 pgrouter)")" -gt "$reloads_before" ]
}
check "pgrouter applied the new file (max_lag: 2MB)" wait_until 15 reloaded

step "units"
# --threshold is in tenths: 20 means an exposure of 2.0 (systemd-analyze prints 1.3, 1.4, 1.7 today).
for unit in etcd:20 patroni:25 pgrouter:20; do
  name=${unit%%:*}
  out=$(on_node pg1 systemd-analyze verify "/etc/systemd/system/$name.service" 2>&1)
  check "systemd-analyze verify says nothing about $name.service" test -z "$out"
  [ -z "$out" ] || echo "$out"
  score=$(on_node pg1 systemd-analyze security --offline=true "/etc/systemd/system/$name.service" | awk '/Overall exposure/ { print $(NF-2) }')
  check "systemd-analyze security scores $name.service at most ${unit#*:}/10 (got $score)" \
    on_node pg1 systemd-analyze security --offline=true --threshold="${unit#*:}" "/etc/systemd/system/$name.service" >/dev/null
done
check "every key of /etc/etcd/etcd.yml is an etcd flag (etcd ignores misspelt keys)" \
  python3 "$HERE/etcd-keys.py" "$PGRDEP_ROOT/hosts/pg1/etc.up/etcd/etcd.yml"
patroni_pid=$(cat "$PGRDEP_ROOT/hosts/pg1/run/fake-systemd/patroni.service.main")
clean_environment() { ! tr '\0' '\n' <"/proc/$patroni_pid/environ" | grep -q '^PGPASSWORD='; }
check "Patroni runs with a clean environment (the caller's PGPASSWORD did not reach it)" clean_environment

step "TLS: etcd and Patroni's REST API want a client certificate of the cluster's CA"
tls_get() { on_node pg2 curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert /etc/patroni/tls/ca.crt "$@"; }
client_cert=(--cert /etc/patroni/tls/patroni.crt --key /etc/patroni/tls/patroni.key)
check "etcd answers a client with a certificate" test "$(tls_get "${client_cert[@]}" "https://${PGRDEP_IP[pg1]}:2379/health")" = 200
check "etcd refuses a client without one" test "$(tls_get "https://${PGRDEP_IP[pg1]}:2379/health")" = 000
check "Patroni's REST API answers a client with a certificate" \
  test "$(tls_get "${client_cert[@]}" "https://${PGRDEP_IP[pg1]}:8008/health")" = 200
check "Patroni's REST API refuses a client without one" test "$(tls_get "https://${PGRDEP_IP[pg1]}:8008/health")" = 000

step "data path: sslmode=verify-full through every node's pgrouter"
leader=$(leader_name)
echo "leader: $leader (${PGRDEP_IP[$leader]:-none})"
for n in "${PGRDEP_NODES[@]}"; do
  ip=${PGRDEP_IP[$n]}
  got=$(sql "$ip" 5432 'select inet_server_addr(), pg_is_in_recovery()')
  check "$n's RW port answers from the leader $leader ($got)" test "$got" = "${PGRDEP_IP[$leader]}|f"
  got=$(sql "$ip" 5433 'select inet_server_addr(), pg_is_in_recovery()')
  check "$n's RO port answers from a replica ($got)" \
    test "${got%|*}" != "${PGRDEP_IP[$leader]}" -a "${got#*|}" = t
done
# No load balancer runs here: connect to pg2 while checking the names clients would use for it.
check "the certificate names the load balancer's DNS name $LB_NAME" \
  test "$(sql "${PGRDEP_IP[pg2]}" 5432 'select 1' "$LB_NAME")" = 1
check "the certificate names the load balancer's address $LB_IP" \
  test "$(sql "${PGRDEP_IP[pg2]}" 5432 'select 1' "$LB_IP")" = 1
refused_name() { ! sql "${PGRDEP_IP[pg1]}" 5432 'select 1' not-in-the-cert.example && grep -q 'does not match host name' "$WORK/sql.err"; }
check "verify-full refuses a name the certificate does not carry" refused_name
token="written-$RANDOM-$RANDOM"
sql "${PGRDEP_IP[pg1]}" 5432 "create table if not exists deploy_test (token text, at timestamptz default now()); insert into deploy_test (token) values ('$token')" >/dev/null
read_everywhere() {
  local n
  for n in "${PGRDEP_NODES[@]}"; do
    [ "$(sql "${PGRDEP_IP[$n]}" 5433 "select count(*) from deploy_test where token = '$1'")" = 1 ] || return 1
  done
}
check "a write through pg1's RW port is read through every node's RO port" wait_until 30 read_everywhere "$token"

step "firewall: allowed ports answer, the others are dropped"
probes=(
  "pgrdep-cli pg1 5432 open" "pgrdep-cli pg2 5433 open" "pgrdep-cli pg3 8404 open"
  "pgrdep-pg2 pg1 2379 open" "pgrdep-pg2 pg1 2380 open" "pgrdep-pg3 pg1 5442 open" "pgrdep-pg3 pg1 8008 open"
  "root pg1 22 refused"
  "pgrdep-cli pg1 5442 dropped" "pgrdep-cli pg1 8008 dropped" "pgrdep-cli pg1 2379 dropped"
  "pgrdep-cli pg1 2380 dropped" "pgrdep-cli pg1 22 dropped" "pgrdep-cli pg1 9 dropped" "root pg1 5432 dropped"
)
mkdir -p "$WORK/probes"
for i in "${!probes[@]}"; do
  read -r from to port _ <<<"${probes[$i]}"
  if [ "$from" = root ]; then
    (timeout 3 bash -c "exec 3<>/dev/tcp/${PGRDEP_IP[$to]}/$port" >/dev/null 2>&1; rc=$?
     case $rc in 0) echo open ;; 124) echo dropped ;; *) echo refused ;; esac) >"$WORK/probes/$i" &
  else
    probe "$from" "${PGRDEP_IP[$to]}" "$port" >"$WORK/probes/$i" &
  fi
done
wait
for i in "${!probes[@]}"; do
  read -r from to port want <<<"${probes[$i]}"
  [ "$from" = root ] && from="the admin box" || from=${from#pgrdep-}
  got=$(cat "$WORK/probes/$i")
  check "$from -> $to:$port is $want (got $got)" test "$got" = "$want"
done

step "failover: stop the leader's Patroni"
old=$leader
other=
for n in "${PGRDEP_NODES[@]}"; do [ "$n" != "$old" ] && other=$n && break; done
write_elsewhere() {
  local got
  got=$(sql "${PGRDEP_IP[$other]}" 5432 "insert into deploy_test (token) values ('after-failover') returning inet_server_addr()")
  # Acknowledged by another member: a write the old leader took before it shut down does not count.
  [ "$got" != "${PGRDEP_IP[$old]}" ] && [[ " ${PGRDEP_IP[pg1]} ${PGRDEP_IP[pg2]} ${PGRDEP_IP[pg3]} " == *" $got "* ]]
}
failover_start=$(now)
on_node "$old" systemctl stop patroni.service &
stop_pid=$!
if wait_until 90 write_elsewhere; then
  FAILOVER=$(since "$failover_start")
  pass "writes work again through $other's router after $old's Patroni stops ($FAILOVER s)"
else
  FAILOVER=none
  fail "writes work again through $other's router after $old's Patroni stops"
fi
wait "$stop_pid"
new=$(leader_name "$other")
check "another member leads ($new)" test -n "$new" -a "$new" != "$old"
all_routers_follow() {
  local n
  for n in "${PGRDEP_NODES[@]}"; do
    [ "$(sql "${PGRDEP_IP[$n]}" 5432 'select inet_server_addr()')" = "${PGRDEP_IP[$new]}" ] || return 1
  done
}
check "every node's RW port follows the new leader $new" wait_until 30 all_routers_follow
rejoin_start=$(now)
on_node "$old" systemctl start patroni.service
streaming() { [ "$(local_sql "$new" "select state from pg_stat_replication where application_name = '$old'")" = streaming ]; }
check "$old comes back streaming (pg_stat_replication on $new)" wait_until 120 streaming
echo "rejoin took $(since "$rejoin_start") s"
check "$old is a replica now" test "$(local_sql "$old" 'select pg_is_in_recovery()')" = t
caught_up() { [ "$(local_sql "$old" "select count(*) > 0 from deploy_test where token = 'after-failover'")" = t ]; }
check "$old has the writes made while it was away" wait_until 30 caught_up

SECOND_RESULT=$(recap_clean "$WORK/second-run.log" && echo changed=0 || echo 'changes, see above')

step "teardown"
save_logs
hosts_destroy
check "no pgrdep namespace, bridge or mount is left" \
  bash -c '! ip netns list | grep -q "^pgrdep-" && ! ip link show pgrdep0 >/dev/null 2>&1 && ! grep -q /tmp/pgrdep /proc/mounts'

printf '\ndeploy time %s s, second run: %s, failover %s s (logs: %s)\n' "$DEPLOY_TIME" "$SECOND_RESULT" "$FAILOVER" "$LOGS"
for f in "${FAILURES[@]}"; do echo "failed: $f"; done
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
