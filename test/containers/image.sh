# shellcheck shell=bash disable=SC2153 # CACHE comes from tools.sh
# The image checks of run.sh (sourced): build deploy/container/Dockerfile on an offline base,
# then run it twice. There is no Docker engine here and `podman run` lacks a capability, so:
#   - the base is a Debian bookworm minbase (debootstrap) plus this machine's Node.js 20 in
#     /usr/local, the layout of the official node:20-bookworm-slim image;
#   - buildah builds with chroot isolation into its own vfs storage under $WORK;
#   - run 1 uses `buildah run --isolation chroot` (the image's user, ENTRYPOINT and CMD);
#   - run 2 gives the image what a container runtime gives it and chroot isolation does not:
#     its own PID namespace (tini is PID 1), a read-only root and a tmpfs /tmp. It runs
#     pgrouter with workers, kills a worker and counts zombies under PID 1.
# Every container and image is named pgrouter-test-*; run.sh's trap removes them.

STORE="$WORK/pgrouter-test-storage"
bh() { buildah --root "$STORE/root" --runroot "$STORE/run" --storage-driver vfs "$@"; }
BASE_IMAGE=localhost/pgrouter-test-base:latest
BUILD_BASE_IMAGE=localhost/pgrouter-test-build-base:latest
IMAGE=localhost/pgrouter-test-image:latest

# A Debian bookworm minbase root filesystem, made once and kept in $CACHE.
minbase_tar() {
  local tar="$CACHE/bookworm-minbase.tar"
  if [ ! -s "$tar" ]; then
    local root="$WORK/minbase" mirror
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
    timeout 600 debootstrap --variant=minbase bookworm "$root" "${mirror:-http://deb.debian.org/debian}" >"$WORK/logs/debootstrap.log" 2>&1 || return 1
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    mkdir -p "$CACHE" && tar -C "$root" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar" && rm -rf "$root"
  fi
  echo "$tar"
}

# pgrouter-test-base: minbase + this machine's node, npm and Node headers under /usr/local.
# pgrouter-test-build-base: that, plus this machine's CA bundle for npm (a TLS-inspecting
# proxy on the way to the registry is common on build machines; it is on this one).
make_base_images() {
  local tar node prefix c
  tar=$(minbase_tar) || return 1
  node=$(readlink -f "$(command -v node)")
  prefix=$(dirname "$(dirname "$node")")
  c=$(bh from --name pgrouter-test-base-work scratch) || return 1
  bh add "$c" "$tar" / &&
    bh copy "$c" "$node" /usr/local/bin/node &&
    bh copy "$c" "$prefix/lib/node_modules/npm" /usr/local/lib/node_modules/npm &&
    bh copy "$c" "$prefix/include/node" /usr/local/include/node &&
    bh run --isolation chroot "$c" -- sh -c 'ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx' &&
    bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd node "$c" &&
    bh commit --rm -q "$c" "$BASE_IMAGE" >/dev/null || return 1
  c=$(bh from --name pgrouter-test-build-base-work "$BASE_IMAGE") || return 1
  bh copy "$c" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt &&
    bh run --isolation chroot "$c" -- sh -c 'mkdir -p /usr/local/etc && echo cafile=/etc/ssl/certs/ca-certificates.crt > /usr/local/etc/npmrc' &&
    bh commit --rm -q "$c" "$BUILD_BASE_IMAGE" >/dev/null
}

# The host's npm cache is lent to the build's RUN steps, so `npm ci` downloads little.
build_image() {
  local cache
  cache=$(npm config get cache)
  timeout 900 buildah --root "$STORE/root" --runroot "$STORE/run" --storage-driver vfs \
    bud --isolation chroot --layers=false \
    -f deploy/container/Dockerfile --ignorefile deploy/container/Dockerfile.dockerignore \
    --build-arg BASE="$BASE_IMAGE" --build-arg BUILD_BASE="$BUILD_BASE_IMAGE" \
    -v "$cache:/root/.npm" -t "$IMAGE" .
}

image_size_report() {
  local mnt c
  c=$(bh from --name pgrouter-test-size "$IMAGE") && mnt=$(bh mount "$c") || return 1
  printf 'image size: %s (the base with Node.js and npm: %s); /app: %s, tini: %s\n' \
    "$(bh images --format '{{.Size}}' "$IMAGE")" "$(bh images --format '{{.Size}}' "$BASE_IMAGE")" \
    "$(du -sh "$mnt/app" | cut -f1)" "$(du -sh "$mnt/usr/local/bin/tini" | cut -f1)"
  bh umount "$c" >/dev/null && bh rm "$c" >/dev/null
}

# The image's own config: ENTRYPOINT + CMD as one argv, USER, Env.
image_argv() { bh inspect --format '{{range .OCIv1.Config.Entrypoint}}{{.}}{{"\n"}}{{end}}{{range .OCIv1.Config.Cmd}}{{.}}{{"\n"}}{{end}}' "$IMAGE"; }
image_user() { bh inspect --format '{{.OCIv1.Config.User}}' "$IMAGE"; }
image_env() { bh inspect --format '{{range .OCIv1.Config.Env}}{{.}}{{"\n"}}{{end}}' "$IMAGE"; }

# write_config DIR WORKERS: a static-mode pgrouter.yaml against the fake Patroni.
write_config() {
  mkdir -p "$1"
  cat >"$1/pgrouter.yaml" <<YAML
cluster:
  scope: smoke
  members:
    - { name: node1, host: 127.0.0.1, port: $PG_PORT, api: "http://127.0.0.1:$PATRONI_PORT" }
checks: { interval: 1s, timeout: 2s, rise: 1, fall: 2 }
listeners:
  - { name: rw, bind: "127.0.0.1:$RW_PORT", role: primary }
  - { name: ro, bind: "127.0.0.1:$RO_PORT", role: replica, fallback: primary }
http: { bind: "127.0.0.1:$HTTP_PORT" }
timeouts: { shutdown_grace: 5s }
workers: $2
YAML
}

start_fake_patroni() {
  node test/containers/fake-patroni.mjs >"$WORK/patroni.port" 2>"$WORK/logs/patroni.log" &
  PATRONI_PID=$!
  STARTED_PIDS+=("$PATRONI_PID")
  wait_for 10 test -s "$WORK/patroni.port" || return 1
  PATRONI_PORT=$(cat "$WORK/patroni.port")
}

# uid of PID as the host sees it.
uid_of() { awk '/^Uid:/ {print $2}' "/proc/$1/status"; }
