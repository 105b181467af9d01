#!/usr/bin/env bash
# Makes the offline release the nodes install pgrouter from, once, on the admin box:
#   <out>/pgrouter-<version>-<commit>.tar.gz   dist/src, bin/, production node_modules and the
#                                              native addon (build/Release/*.node) when built
#   <out>/node-v<version>-linux-<arch>.tar.gz  a Node.js >= 20.19 runtime, official layout
#   <out>/release.yml                          which two files the roles install
# The nodes then need no npm registry and no Node.js package (Debian 12's nodejs is 18).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: deploy/bundle.sh (--node-tarball FILE | --node-binary FILE) [--out DIR]

  --node-tarball FILE  an official Node.js linux tarball (node-v20.x.y-linux-x64.tar.gz or .tar.xz)
  --node-binary FILE   or make one in the official layout from a node binary (e.g. /usr/bin/node)
  --out DIR            where to write the release (default: deploy/release)

Run it in a checkout after `npm ci` (which builds dist/).
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$here/release
node_tarball=
node_binary=
while [ $# -gt 0 ]; do
  case $1 in
    --node-tarball) node_tarball=$2; shift 2 ;;
    --node-binary) node_binary=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bundle.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -z "$node_tarball" ] && [ -z "$node_binary" ]; then
  usage >&2
  exit 2
fi
for f in "$repo/dist/src/cli/main.js" "$repo/node_modules" "$repo/bin/pgrouter"; do
  [ -e "$f" ] || { echo "bundle.sh: $f is missing; run \`npm ci\` in $repo first" >&2; exit 1; }
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# The Node.js runtime.
if [ -n "$node_tarball" ]; then
  node_release=$(basename "$node_tarball")
  node_release=${node_release%.tar.*}
  if [[ $node_tarball == *.tar.gz ]]; then
    cp "$node_tarball" "$out/$node_release.tar.gz"
  else
    mkdir "$stage/node"
    tar -C "$stage/node" -xf "$node_tarball"
    tar -C "$stage/node" -czf "$out/$node_release.tar.gz" "$node_release"
  fi
else
  version=$("$node_binary" --version)
  arch=$(uname -m)
  case $arch in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; esac
  node_release=node-$version-linux-$arch
  mkdir -p "$stage/node/$node_release/bin"
  cp "$node_binary" "$stage/node/$node_release/bin/node"
  tar -C "$stage/node" -czf "$out/$node_release.tar.gz" "$node_release"
fi

# pgrouter with its production dependencies only.
version=$(node -p 'require(process.argv[1]).version' "$repo/package.json")
commit=$(git -C "$repo" rev-parse --short=10 HEAD 2>/dev/null || echo local)
pgrouter_release=pgrouter-$version-$commit
app=$stage/app/$pgrouter_release
mkdir -p "$app/dist"
cp -a "$repo/bin" "$repo/package.json" "$repo/package-lock.json" "$repo/README.md" "$app/"
cp -a "$repo/dist/src" "$app/dist/src"
cp -a "$repo/node_modules" "$app/node_modules"
if compgen -G "$repo/build/Release/*.node" >/dev/null; then
  mkdir -p "$app/build/Release"
  cp -a "$repo"/build/Release/*.node "$app/build/Release/"
fi
(cd "$app" && npm prune --omit=dev --offline --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
find "$app/node_modules" -type d -empty -delete
tar -C "$stage/app" -czf "$out/$pgrouter_release.tar.gz" "$pgrouter_release"

cat > "$out/release.yml" <<EOF
---
# Written by deploy/bundle.sh: the files of $out the roles install.
pgrouter_release: $pgrouter_release
node_release: $node_release
EOF
echo "bundle.sh: $out/$pgrouter_release.tar.gz and $out/$node_release.tar.gz"
