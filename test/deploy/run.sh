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
# shellcheck source=scenarios.sh
source "$HERE/scenarios.sh"

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
packages=(ansible-core ansible-lint yamllint shellcheck nftables ufw systemd python3-apt etcd-server etcd-client
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
[ -f "$REPO/dist/src/cli/main.js" ] || (cd "$REPO" && npm run build >/dev/null)

step "lints"
check "shellcheck passes on deploy/ and test/deploy/" \
  shellcheck -x "$DEPLOY"/*.sh "$DEPLOY"/lib/*.sh "$HERE"/*.sh
# From deploy/: .yamllint's ignore list (the other deploy/ directories) is relative to it.
yaml_lint() { (cd "$DEPLOY" && yamllint -s -c .yamllint .); }
check "yamllint passes on deploy/" yaml_lint
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
echo "pg1 ${PGRDEP_IP[pg1]}, pg2 ${PGRDEP_IP[pg2]}, pg3 ${PGRDEP_IP[pg3]}, client ${PGRDEP_IP[cli]}, fw ${PGRDEP_IP[fw]}, admin box $PGRDEP_BRIDGE_IP"

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
bootstrap_failed=0
for i in "${!pids[@]}"; do
  n=${PGRDEP_NODES[$i]}
  if wait "${pids[$i]}" && recap_ok "$WORK/bootstrap-$n.log"; then
    pass "bootstrap.sh --node $n succeeds"
  else
    fail "bootstrap.sh --node $n succeeds"
    bootstrap_failed=1
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
[ "$bootstrap_failed" -eq 0 ] || finish_early "a bootstrap failed"

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

scenario_config_change
scenario_units
scenario_tls
scenario_data_path
scenario_firewall
scenario_failover
scenario_ufw

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
