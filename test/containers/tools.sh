# shellcheck shell=bash
# Installs or finds what the container checks need (sourced by run.sh). Debian packages:
# buildah (builds images without a daemon), debootstrap (the offline base), shellcheck, curl,
# openssl. promtool comes out of Debian's prometheus package, unpacked rather than installed
# so that no Prometheus server is set up. kubectl (for `kubectl kustomize`) is taken from
# PATH; without one, Debian's kubernetes-client is unpacked the same way.

CACHE=${PGROUTER_TEST_CACHE:-/var/tmp/pgrouter-test-cache}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "tools: missing ${missing[*]}; as root: apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  echo "tools: installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# unpack_deb PACKAGE: its files under $CACHE/PACKAGE/ (downloaded once).
unpack_deb() {
  local dir="$CACHE/$1"
  [ -d "$dir/root" ] && return 0
  mkdir -p "$dir" && (cd "$dir" && apt-get download "$1" >/dev/null 2>&1) && dpkg-deb -x "$dir"/"$1"_*.deb "$dir/root"
}

ensure_tools() {
  apt_install buildah debootstrap shellcheck curl openssl ca-certificates || return 1
  PROMTOOL=$(command -v promtool || true)
  if [ -z "$PROMTOOL" ]; then
    unpack_deb prometheus || return 1
    PROMTOOL="$CACHE/prometheus/root/usr/bin/promtool"
  fi
  KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
  if [ -z "$KUBECTL" ]; then
    unpack_deb kubernetes-client || return 1
    KUBECTL="$CACHE/kubernetes-client/root/usr/bin/kubectl"
  fi
  export KUBECTL
  TERRAFORM=$(command -v terraform || true)
  echo "tools: promtool $("$PROMTOOL" --version 2>&1 | head -n1 | awk '{print $3}'), $("$KUBECTL" version --client 2>/dev/null | head -n1), terraform ${TERRAFORM:-absent}"
}
