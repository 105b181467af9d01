#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Makes the cluster's PKI bundle once, on the admin box: a CA, per node a key and certificate
# for etcd, Patroni's REST API, PostgreSQL and pgrouter, and the generated passwords
# (secrets.yml, mode 0600). Existing keys and passwords are kept; --rotate makes new node
# keys and certificates (the CA stays). It runs the pki role of the playbooks (openssl only).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/cluster-args.sh
source "$here/lib/cluster-args.sh"

usage() {
  cat <<'USAGE'
Usage: deploy/pki.sh --cluster pg1=IP,pg2=IP,pg3=IP [--name NAME]... [--scope NAME] [--out DIR] [--rotate]

  --cluster  every member: name=address (at least 3)
  --name     another name or address clients use (load balancer, DNS name); repeatable.
             PostgreSQL's certificates name it, so sslmode=verify-full works through it
  --scope    the Patroni scope (cluster name), default postgres
  --out      the bundle directory (default deploy/pki)
  --rotate   new keys and certificates for every node (keeps the CA and the passwords)

Writes DIR and DIR.nodes.tar.gz: the bundle without the CA's key, to copy to every node.
USAGE
}

cluster=
out=$here/pki
scope=postgres
rotate=false
names=()
while [ $# -gt 0 ]; do
  case $1 in
    --cluster) cluster=$2; shift 2 ;;
    --name) names+=("$2"); shift 2 ;;
    --scope) scope=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --rotate) rotate=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
done
[ -n "$cluster" ] || { usage >&2; exit 2; }
parse_cluster "$cluster"
command -v ansible-playbook >/dev/null || die "ansible-playbook is missing: apt-get install ansible-core"
command -v openssl >/dev/null || die "openssl is missing: apt-get install openssl"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
write_inventory "$work/inventory.yml"
cat >"$work/vars.yml" <<VARS
---
pgr_scope: "$scope"
pgr_pki_dir: "$out"
pgr_client_names: $(yaml_list "${names[@]}")
pki_rotate: $rotate
VARS

ANSIBLE_CONFIG=$here/ansible.cfg ansible-playbook -i "$work/inventory.yml" -e "@$work/vars.yml" "$here/pki.yml"
umask 077
tar -C "$out" --exclude=./private -czf "$out.nodes.tar.gz" .
echo "pki.sh: bundle in $out (keep private/ on this box); for the nodes: $out.nodes.tar.gz"
