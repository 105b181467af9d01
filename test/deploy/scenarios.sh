# shellcheck shell=bash
# The checks of the deploy test that run against the deployed cluster, one function per step;
# run.sh calls them in order. They use run.sh's globals (WORK, DEPLOY, HERE, LB_*) and set
# leader and FAILOVER for the steps after them. Helpers first, then the steps.

main_pids() { cat "$PGRDEP_ROOT"/hosts/pg1/run/fake-systemd/{etcd,patroni,pgrouter}.service.main | tr '\n' ' '; }
ro_reloads() { grep -c '"msg":"configuration reloaded: listeners changed: ro' "$(unit_log pg1 pgrouter)"; }
# SIGHUP returns at once; pgrouter logs the outcome once it has applied the file.
reloaded_since() { [ "$(ro_reloads)" -gt "$1" ]; }

no_pgpassword() { ! tr '\0' '\n' <"/proc/$1/environ" | grep -q '^PGPASSWORD='; }

# tls_get CURL_ARGS...: the HTTP status a client on pg2 gets, 000 when the handshake fails.
tls_get() { on_node pg2 curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert /etc/patroni/tls/ca.crt "$@"; }
CLIENT_CERT=(--cert /etc/patroni/tls/patroni.crt --key /etc/patroni/tls/patroni.key)

refused_name() {
  ! sql "${PGRDEP_IP[pg1]}" 5432 'select 1' not-in-the-cert.example && grep -q 'does not match host name' "$WORK/sql.err"
}

read_everywhere() {
  local n
  for n in "${PGRDEP_NODES[@]}"; do
    [ "$(sql "${PGRDEP_IP[$n]}" 5433 "select count(*) from deploy_test where token = '$1'")" = 1 ] || return 1
  done
}

# write_elsewhere OLD VIA: a write through VIA's RW port acknowledged by another member than
# OLD (a write the old leader took before it shut down does not count).
write_elsewhere() {
  local got
  got=$(sql "${PGRDEP_IP[$2]}" 5432 "insert into deploy_test (token) values ('after-failover') returning inet_server_addr()")
  [ "$got" != "${PGRDEP_IP[$1]}" ] && [[ " ${PGRDEP_IP[pg1]} ${PGRDEP_IP[pg2]} ${PGRDEP_IP[pg3]} " == *" $got "* ]]
}

all_routers_follow() {
  local n
  for n in "${PGRDEP_NODES[@]}"; do
    [ "$(sql "${PGRDEP_IP[$n]}" 5432 'select inet_server_addr()')" = "${PGRDEP_IP[$1]}" ] || return 1
  done
}

# streaming LEADER MEMBER: the leader's pg_stat_replication shows the member streaming.
streaming() { [ "$(local_sql "$1" "select state from pg_stat_replication where application_name = '$2'")" = streaming ]; }
caught_up() { [ "$(local_sql "$1" "select count(*) > 0 from deploy_test where token = 'after-failover'")" = t ]; }

scenario_config_change() {
  local pids_before reloads_before handlers
  step "a changed pgrouter setting reloads pgrouter and touches nothing else"
  pids_before=$(main_pids)
  reloads_before=$(ro_reloads)
  playbook --limit pg1,localhost -e pgrouter_max_lag=2MB "$DEPLOY/site.yml" >"$WORK/change-run.log" 2>&1
  handlers=$(grep -o '^RUNNING HANDLER \[[^]]*\]' "$WORK/change-run.log" | sed 's/RUNNING HANDLER //' | tr '\n' ' ')
  check "only the handler 'Reload pgrouter' runs (ran: ${handlers:-none})" test "$handlers" = "[pgrouter : Reload pgrouter] "
  check "etcd, Patroni and pgrouter keep their processes (a reload, no restart)" test "$(main_pids)" = "$pids_before"
  check "pgrouter applied the new file (max_lag: 2MB)" wait_until 15 reloaded_since "$reloads_before"
}

scenario_units() {
  local unit name limit out score
  step "units"
  # --threshold is in tenths: 20 means an exposure of 2.0 (systemd-analyze prints 1.3, 1.4, 1.7 today).
  for unit in etcd:20 patroni:25 pgrouter:20; do
    name=${unit%%:*}
    limit=${unit#*:}
    out=$(on_node pg1 systemd-analyze verify "/etc/systemd/system/$name.service" 2>&1)
    check "systemd-analyze verify says nothing about $name.service" test -z "$out"
    [ -z "$out" ] || echo "$out"
    score=$(on_node pg1 systemd-analyze security --offline=true "/etc/systemd/system/$name.service" |
      awk '/Overall exposure/ { print $(NF-2) }')
    check "systemd-analyze security scores $name.service at most $((limit / 10)).$((limit % 10)) (got $score)" \
      quiet on_node pg1 systemd-analyze security --offline=true --threshold="$limit" "/etc/systemd/system/$name.service"
  done
  check "every key of /etc/etcd/etcd.yml is one etcd knows (it ignores misspelt keys)" \
    python3 "$HERE/etcd-keys.py" "$PGRDEP_ROOT/hosts/pg1/etc.up/etcd/etcd.yml"
  check "Patroni runs with a clean environment (the caller's PGPASSWORD did not reach it)" \
    no_pgpassword "$(cat "$PGRDEP_ROOT/hosts/pg1/run/fake-systemd/patroni.service.main")"
}

scenario_tls() {
  local pg1=${PGRDEP_IP[pg1]}
  step "TLS: etcd and Patroni's REST API want a client certificate of the cluster's CA"
  check "etcd answers a client with a certificate" test "$(tls_get "${CLIENT_CERT[@]}" "https://$pg1:2379/health")" = 200
  check "etcd refuses a client without one" test "$(tls_get "https://$pg1:2379/health")" = 000
  check "Patroni's REST API answers a client with a certificate" \
    test "$(tls_get "${CLIENT_CERT[@]}" "https://$pg1:8008/health")" = 200
  check "Patroni's REST API refuses a client without one" test "$(tls_get "https://$pg1:8008/health")" = 000
}

scenario_data_path() {
  local n ip got token
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
  check "verify-full refuses a name the certificate does not carry" refused_name
  token="written-$RANDOM-$RANDOM"
  sql "${PGRDEP_IP[pg1]}" 5432 "create table if not exists deploy_test (token text, at timestamptz default now());
    insert into deploy_test (token) values ('$token')" >/dev/null
  check "a write through pg1's RW port is read through every node's RO port" wait_until 30 read_everywhere "$token"
}

scenario_firewall() {
  local probes i from to port want got
  step "firewall: allowed ports answer, the others are dropped"
  # FROM (a namespace, or root: the admin box on the bridge) TO PORT EXPECTED
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
    probe "$from" "${PGRDEP_IP[$to]}" "$port" >"$WORK/probes/$i" &
  done
  wait
  for i in "${!probes[@]}"; do
    read -r from to port want <<<"${probes[$i]}"
    if [ "$from" = root ]; then from="the admin box"; else from=${from#pgrdep-}; fi
    got=$(cat "$WORK/probes/$i")
    check "$from -> $to:$port is $want (got $got)" test "$got" = "$want"
  done
}

scenario_failover() {
  local old=$leader other='' n start stop_pid new
  step "failover: stop the leader's Patroni"
  for n in "${PGRDEP_NODES[@]}"; do
    if [ "$n" != "$old" ]; then other=$n; break; fi
  done
  start=$(now)
  on_node "$old" systemctl stop patroni.service &
  stop_pid=$!
  if wait_until 90 write_elsewhere "$old" "$other"; then
    FAILOVER=$(since "$start")
    pass "writes work again through $other's router after $old's Patroni stops ($FAILOVER s)"
  else
    fail "writes work again through $other's router after $old's Patroni stops"
  fi
  wait "$stop_pid"
  new=$(leader_name "$other")
  check "another member leads ($new)" test -n "$new" -a "$new" != "$old"
  check "every node's RW port follows the new leader $new" wait_until 30 all_routers_follow "$new"
  start=$(now)
  on_node "$old" systemctl start patroni.service
  check "$old comes back streaming (pg_stat_replication on $new)" wait_until 120 streaming "$new" "$old"
  echo "rejoin took $(since "$start") s"
  check "$old is a replica now" test "$(local_sql "$old" 'select pg_is_in_recovery()')" = t
  check "$old has the writes made while it was away" wait_until 30 caught_up "$old"
}

# The seeds' firewall: the firewall role alone (site.yml --tags firewall) with
# pgr_firewall=ufw on the fourth host, fw, as a member of a cluster with pg2 and pg3.
scenario_ufw() {
  local inventory=$WORK/ufw-inventory.yml run listener from port want got
  step "UFW (the seeds' firewall) on a fourth host: allowed ports answer, the others are dropped"
  {
    echo '---'
    echo 'all:'
    echo '  children:'
    echo '    pgrouter_nodes:'
    echo '      hosts:'
    echo "        fw:"
    echo "          pgr_node_ip: ${PGRDEP_IP[fw]}"
    echo "          ansible_connection: local"
    echo "          ansible_python_interpreter: nsenter --net=/run/netns/pgrdep-fw --mount=$PGRDEP_ROOT/ns/fw.mnt --uts=$PGRDEP_ROOT/ns/fw.uts /usr/bin/python3"
    echo "        pg2: { pgr_node_ip: ${PGRDEP_IP[pg2]} }"
    echo "        pg3: { pgr_node_ip: ${PGRDEP_IP[pg3]} }"
    echo '  vars:'
    echo '    pgr_firewall: ufw'
    echo "    pgr_client_cidrs: [\"$CLIENT_CIDR\"]"
    echo "    pgr_admin_cidrs: [\"$ADMIN_CIDR\"]"
  } >"$inventory"
  for run in 1 2; do
    ansible-playbook -i "$inventory" --limit fw --tags firewall "$DEPLOY/site.yml" >"$WORK/ufw-$run.log" 2>&1
  done
  check "the firewall role applies UFW rules" recap_ok "$WORK/ufw-1.log"
  check "a second UFW run changes nothing" recap_clean "$WORK/ufw-2.log"
  # Listeners on a client port, a cluster port and a port of no table, for 20 s at most.
  on_node fw timeout 20 python3 -c '
import socket, time
held = []
for port in (5432, 5442, 9):
    s = socket.socket(); s.bind(("0.0.0.0", port)); s.listen(); held.append(s)
open("/run/listening", "w").close()
time.sleep(20)' &
  listener=$!
  wait_until 10 test -e "$PGRDEP_ROOT/hosts/fw/run/listening"
  local probes=("pgrdep-cli 5432 open" "pgrdep-pg2 5442 open" "pgrdep-cli 5442 dropped" "pgrdep-cli 9 dropped"
    "root 5432 dropped") pids=() i
  for i in "${!probes[@]}"; do
    read -r from port _ <<<"${probes[$i]}"
    probe "$from" "${PGRDEP_IP[fw]}" "$port" >"$WORK/probes/ufw-$i" &
    pids+=($!)
  done
  wait "${pids[@]}"
  for i in "${!probes[@]}"; do
    read -r from port want <<<"${probes[$i]}"
    got=$(cat "$WORK/probes/ufw-$i")
    if [ "$from" = root ]; then from="the admin box"; else from=${from#pgrdep-}; fi
    check "UFW: $from -> fw:$port is $want (got $got)" test "$got" = "$want"
  done
  kill "$listener" 2>/dev/null
  wait "$listener" 2>/dev/null
  return 0
}
