#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# One command per node: checks this host, installs ansible-core when missing and runs
# site.yml locally for this node. Every node runs the same command with its own --node, in
# any order or at once; Patroni elects the leader (there is no --role).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/cluster-args.sh
source "$here/lib/cluster-args.sh"

usage() {
  cat <<'USAGE'
Usage: deploy/bootstrap.sh --node NAME --cluster pg1=IP,pg2=IP,pg3=IP [options]

  --node NAME          this host's name in --cluster
  --cluster SPEC       every member: name=address (at least 3), the same on every node
  --client-cidr CIDR   who may connect to pgrouter (5432, 5433) and its stats (8404); repeatable
  --admin-cidr CIDR    who may reach SSH (22); repeatable; default: anyone
  --firewall KIND      nftables (default), ufw or none
  --scope NAME         the Patroni scope (cluster name), default postgres
  --pki PATH           the bundle of deploy/pki.sh: a directory or its .nodes.tar.gz
                       (default: deploy/pki.nodes.tar.gz, else deploy/pki)
  --release DIR        the release of deploy/bundle.sh (default: deploy/release)
  --extra-vars FILE    more Ansible variables (YAML), e.g. patroni_watchdog_mode: required
  --check              show what would change, change nothing
USAGE
}

node=
cluster=
firewall=nftables
scope=postgres
pki=
release=$here/release
extra=
check=()
client_cidrs=()
admin_cidrs=()
while [ $# -gt 0 ]; do
  case $1 in
    --node) node=$2; shift 2 ;;
    --cluster) cluster=$2; shift 2 ;;
    --client-cidr) client_cidrs+=("$2"); shift 2 ;;
    --admin-cidr) admin_cidrs+=("$2"); shift 2 ;;
    --firewall) firewall=$2; shift 2 ;;
    --scope) scope=$2; shift 2 ;;
    --pki) pki=$2; shift 2 ;;
    --release) release=$2; shift 2 ;;
    --extra-vars) extra=$2; shift 2 ;;
    --check) check=(--check --diff); shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
done
if [ -z "$node" ] || [ -z "$cluster" ]; then usage >&2; exit 2; fi

# Prerequisites, each with what to do about it.
[ "$(id -u)" -eq 0 ] || die "run it as root"
# shellcheck disable=SC1091
. /etc/os-release
if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
  die "this is ${PRETTY_NAME:-an unknown OS}; the roles target Debian 12"
fi
case $firewall in nftables|ufw|none) ;; *) die "--firewall must be nftables, ufw or none" ;; esac
parse_cluster "$cluster"
node_ip=
for i in "${!CLUSTER_NAMES[@]}"; do
  [ "${CLUSTER_NAMES[$i]}" = "$node" ] && node_ip=${CLUSTER_IPS[$i]}
done
[ -n "$node_ip" ] || die "--node $node is not in --cluster"
ip -o -4 addr show | grep -q " inet $node_ip/" || die "$node_ip ($node) is not an address of this host"
[ -f "$release/release.yml" ] || die "no release in $release: run deploy/bundle.sh on the admin box and copy its output here"
if [ -z "$pki" ]; then
  if [ -f "$here/pki.nodes.tar.gz" ]; then pki=$here/pki.nodes.tar.gz; else pki=$here/pki; fi
fi
[ -e "$pki" ] || die "no PKI bundle at $pki: run deploy/pki.sh on the admin box and copy its .nodes.tar.gz here"

state=/etc/pgrouter-deploy
install -d -m 0700 "$state"
if [ -f "$pki" ]; then
  rm -rf "$state/pki"
  install -d -m 0700 "$state/pki"
  tar -C "$state/pki" -xzf "$pki"
  pki=$state/pki
fi
pki=$(cd "$pki" && pwd)

if ! command -v ansible-playbook >/dev/null || ! /usr/bin/python3 -c 'import apt' 2>/dev/null; then
  echo "bootstrap.sh: installing ansible-core (Debian's package) ..."
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ansible-core python3-apt
fi

write_inventory "$state/inventory.yml"
cat >"$state/vars.yml" <<VARS
---
# Written by deploy/bootstrap.sh --node $node.
pgr_scope: "$scope"
pgr_firewall: "$firewall"
pgr_client_cidrs: $(yaml_list "${client_cidrs[@]}")
pgr_admin_cidrs: $(if [ ${#admin_cidrs[@]} -gt 0 ]; then yaml_list "${admin_cidrs[@]}"; else echo '["0.0.0.0/0", "::/0"]'; fi)
pgr_pki_dir: "$pki"
pgr_release_dir: "$(cd "$release" && pwd)"
# The bundle comes from the admin box; a node never makes its own CA.
pki_generate: false
VARS
chmod 0600 "$state/inventory.yml" "$state/vars.yml"

extra_args=()
[ -z "$extra" ] || extra_args=(-e "@$extra")
echo "bootstrap.sh: deploying $node ($node_ip) of ${CLUSTER_NAMES[*]}"
ANSIBLE_CONFIG=$here/ansible.cfg exec ansible-playbook -i "$state/inventory.yml" -c local \
  --limit "$node,localhost" -e "@$state/vars.yml" "${extra_args[@]}" "${check[@]}" "$here/site.yml"
