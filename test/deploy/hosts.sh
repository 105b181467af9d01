# shellcheck shell=bash
# Namespace "hosts" for the deploy test: each host is a network namespace on the bridge
# pgrdep0 (198.18.0.16/28, the benchmark range) plus a mount and UTS namespace in which
# /etc, /var/lib and /opt are overlays of the real ones and /run is the host's own directory,
# so the roles write the real paths per node. /usr/bin/systemctl is fake-systemd/ in there.
# Sourced by run.sh; every name it makes starts with pgrdep so a cleanup never touches others.

PGRDEP_ROOT=/tmp/pgrdep
PGRDEP_BRIDGE=pgrdep0
PGRDEP_BRIDGE_IP=198.18.0.17
declare -A PGRDEP_IP=([pg1]=198.18.0.21 [pg2]=198.18.0.22 [pg3]=198.18.0.23 [cli]=198.18.0.25 [fw]=198.18.0.26)
# The cluster's members; fw is a fourth host with its own mount namespace (the UFW check);
# cli is the client host, a network namespace only.
# shellcheck disable=SC2034 # used by run.sh and scenarios.sh
PGRDEP_NODES=(pg1 pg2 pg3)
PGRDEP_HOSTS=(pg1 pg2 pg3 fw)

# Runs a command inside node $1's namespaces (network, mount, UTS).
on_node() {
  local node=$1
  shift
  nsenter --net="/run/netns/pgrdep-$node" --mount="$PGRDEP_ROOT/ns/$node.mnt" \
    --uts="$PGRDEP_ROOT/ns/$node.uts" "$@"
}

# Runs a command in the client host's network namespace (it has no mount namespace).
on_client() { ip netns exec pgrdep-cli "$@"; }

# Kills every process of one namespace by PID: TERM, then KILL after a bounded wait.
kill_netns_pids() {
  local ns=$1 pids
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    [ -n "$(ip netns pids "$ns" 2>/dev/null || true)" ] || return 0
    sleep 0.1
  done
  echo "hosts: processes left in $ns: $(ip netns pids "$ns" | tr '\n' ' ')" >&2
}

# Removes everything a previous run (even a killed one) may have left, then this run's hosts.
hosts_destroy() {
  local ns f
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^pgrdep-' || true); do
    kill_netns_pids "$ns"
    ip netns del "$ns" 2>/dev/null || true
  done
  ip link del "$PGRDEP_BRIDGE" 2>/dev/null || true
  if [ -d "$PGRDEP_ROOT/ns" ]; then
    for f in "$PGRDEP_ROOT"/ns/*; do
      [ -e "$f" ] || continue
      umount "$f" 2>/dev/null || true
    done
    umount "$PGRDEP_ROOT/ns" 2>/dev/null || true
  fi
  rm -rf "$PGRDEP_ROOT"
}

hosts_create() {
  local h ip dir
  mkdir -p "$PGRDEP_ROOT/ns"
  # unshare --mount=FILE needs FILE on a private mount.
  mount --bind "$PGRDEP_ROOT/ns" "$PGRDEP_ROOT/ns"
  mount --make-private "$PGRDEP_ROOT/ns"
  ip link add "$PGRDEP_BRIDGE" type bridge
  ip addr add "$PGRDEP_BRIDGE_IP/28" dev "$PGRDEP_BRIDGE"
  ip link set "$PGRDEP_BRIDGE" up
  for h in "${PGRDEP_HOSTS[@]}" cli; do
    ip=${PGRDEP_IP[$h]}
    ip netns add "pgrdep-$h"
    ip link add "pgrdep-$h-h" type veth peer name eth0 netns "pgrdep-$h"
    ip link set "pgrdep-$h-h" master "$PGRDEP_BRIDGE" up
    ip -n "pgrdep-$h" addr add "$ip/28" dev eth0
    ip -n "pgrdep-$h" link set lo up
    ip -n "pgrdep-$h" link set eth0 up
  done
  for h in "${PGRDEP_HOSTS[@]}"; do
    dir=$PGRDEP_ROOT/hosts/$h
    mkdir -p "$dir"/{etc,varlib,opt}.{up,wk} "$dir/run"
    touch "$PGRDEP_ROOT/ns/$h.mnt" "$PGRDEP_ROOT/ns/$h.uts"
    # The stand-in systemctl (fake-systemd/), in place of /usr/bin/systemctl on this host only.
    printf '#!/bin/sh\nexec /usr/bin/python3 -B %s/fake-systemd/systemctl.py "$@"\n' "$PGRDEP_HERE" >"$dir/systemctl"
    chmod 0755 "$dir/systemctl"
    # sysfs is mounted from inside the network namespace so /sys/class/net shows its own links.
    # shellcheck disable=SC2016 # the script's variables are its own arguments
    unshare --mount="$PGRDEP_ROOT/ns/$h.mnt" --uts="$PGRDEP_ROOT/ns/$h.uts" --propagation private \
      /bin/sh -euc '
        dir=$1; h=$2; shim=$3
        hostname "$h"
        nsenter --net="/run/netns/pgrdep-$h" mount -t sysfs sysfs /sys
        mount -t overlay overlay -o "lowerdir=/etc,upperdir=$dir/etc.up,workdir=$dir/etc.wk" /etc
        mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$dir/varlib.up,workdir=$dir/varlib.wk" /var/lib
        mount -t overlay overlay -o "lowerdir=/opt,upperdir=$dir/opt.up,workdir=$dir/opt.wk" /opt
        mount --bind "$dir/run" /run
        mount --bind "$shim" /usr/bin/systemctl
        printf "127.0.0.1 localhost\n%s %s\n" "$4" "$h" > /etc/hosts
      ' sh "$dir" "$h" "$dir/systemctl" "${PGRDEP_IP[$h]}"
  done
}

# The per-host log of a unit started by the fake systemctl.
unit_log() { echo "$PGRDEP_ROOT/hosts/$1/run/fake-systemd/$2.service.log"; }
