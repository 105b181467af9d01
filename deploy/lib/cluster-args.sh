# shellcheck shell=bash
# The cluster description shared by pki.sh and bootstrap.sh: --cluster pg1=IP,pg2=IP,pg3=IP
# becomes an Ansible inventory (group pgrouter_nodes, one pgr_node_ip per node).

CLUSTER_NAMES=()
CLUSTER_IPS=()

# parse_cluster "pg1=10.0.0.1,pg2=10.0.0.2,pg3=10.0.0.3": fills CLUSTER_NAMES/CLUSTER_IPS or exits.
parse_cluster() {
  local spec=$1 item name ip
  IFS=',' read -r -a items <<<"$spec"
  for item in "${items[@]}"; do
    name=${item%%=*}
    ip=${item#*=}
    if [[ ! $name =~ ^[a-z0-9][a-z0-9-]*$ ]] || [ "$name" = "$item" ]; then
      die "--cluster: \"$item\" is not NAME=ADDRESS with a lowercase host name"
    fi
    if [[ ! $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
      die "--cluster: \"$ip\" (of $name) is not an IPv4 address"
    fi
    for seen in "${CLUSTER_NAMES[@]}" "${CLUSTER_IPS[@]}"; do
      if [ "$seen" = "$name" ] || [ "$seen" = "$ip" ]; then die "--cluster: $name=$ip repeats a name or an address"; fi
    done
    CLUSTER_NAMES+=("$name")
    CLUSTER_IPS+=("$ip")
  done
  # etcd and Patroni need a majority that survives the loss of one member.
  [ "${#CLUSTER_NAMES[@]}" -ge 3 ] || die "--cluster: at least 3 members are needed, got ${#CLUSTER_NAMES[@]}"
}

# write_inventory FILE: the members, and localhost for the play that checks or makes the PKI.
write_inventory() {
  local file=$1 i
  {
    echo '---'
    echo '# Written by deploy/bootstrap.sh or deploy/pki.sh from --cluster.'
    echo 'all:'
    echo '  hosts:'
    echo '    localhost: { ansible_connection: local, ansible_python_interpreter: /usr/bin/python3 }'
    echo '  children:'
    echo '    pgrouter_nodes:'
    echo '      hosts:'
    for i in "${!CLUSTER_NAMES[@]}"; do
      echo "        ${CLUSTER_NAMES[$i]}: { pgr_node_ip: ${CLUSTER_IPS[$i]} }"
    done
  } >"$file"
}

# yaml_list a b c -> ["a", "b", "c"]
yaml_list() {
  local out='' x
  for x in "$@"; do out+="${out:+, }\"$x\""; done
  echo "[$out]"
}

die() {
  echo "${0##*/}: $*" >&2
  exit 1
}
