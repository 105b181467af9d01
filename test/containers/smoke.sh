# shellcheck shell=bash
# The two smoke runs of the built image (sourced by run.sh after image.sh). Each waits on
# conditions with a bound and ends its container with SIGTERM to the container's PID 1.

has_workers() { [ "$(children "$1" | wc -l)" -ge "$2" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
no_zombies_under() { [ "$(zombies_under "$1")" -eq 0 ]; }
respawned() { # PRIMARY KILLED COUNT: COUNT workers again, none of them KILLED
  local kids
  kids=$(children "$1")
  [ "$(wc -l <<<"$kids")" -ge "$3" ] && ! grep -qx "$2" <<<"$kids"
}
ready_ok() { http_ok "$1/ready" && http_ok "$1/health/rw"; }
metrics_ok() { curl -sf --max-time 2 "$1" | grep -q '^pgrouter_build_info{'; }
# The image's pgrouter process (node running /app/bin/pgrouter) under PID.
pgrouter_pid() { proc_tree "$1" | awk '$5 == "node" && /\/app\/bin\/pgrouter/ {print $1; exit}'; }

# stop_container TINI_PID OUTER_PID NAME: SIGTERM to PID 1, then its exit status must be 0.
stop_container() {
  kill -TERM "$1"
  if ! wait_for 60 gone "$2"; then
    fail "$3: exits within 60 s of SIGTERM"
    return
  fi
  local rc=0
  wait "$2" || rc=$?
  if [ "$rc" -eq 0 ]; then pass "$3: exits 0 on SIGTERM (drain, then exit)"; else fail "$3: exits 0 on SIGTERM (got $rc)"; fi
}

# Run 1: `buildah run --isolation chroot`, with the image's USER, ENTRYPOINT and CMD; the
# config is mounted where CMD looks for it. workers: 1, as for a sidecar.
smoke_buildah_run() {
  local c outer tini node uid argv=()
  c=$(bh from --name pgrouter-test-smoke "$IMAGE") || { fail "run 1: create a container"; return; }
  write_config "$WORK/etc-1" 1
  mapfile -t argv < <(image_argv)
  bh run --isolation chroot -v "$WORK/etc-1:/etc/pgrouter:ro" "$c" -- "${argv[@]}" >"$WORK/logs/run-1.log" 2>&1 &
  outer=$!
  STARTED_PIDS+=("$outer")
  check "run 1 (buildah run): answers GET /health with 200" wait_for 60 http_ok "http://127.0.0.1:$HTTP_PORT/health"
  check "run 1: /ready and /health/rw answer 200 (a primary confirmed through the fake Patroni)" \
    wait_for 30 ready_ok "http://127.0.0.1:$HTTP_PORT"
  check "run 1: /metrics serves pgrouter_build_info" metrics_ok "http://127.0.0.1:$HTTP_PORT/metrics"
  node=$(pgrouter_pid "$outer")
  tini=$(proc_tree "$outer" | awk '$5 == "/usr/local/bin/tini" {print $1; exit}')
  uid=${node:+$(uid_of "$node")}
  if [ -n "$uid" ] && [ "$uid" -ne 0 ] && [ "$uid" = "$(image_user | cut -d: -f1)" ]; then
    pass "run 1: pgrouter runs as the image's numeric non-root user ($uid)"
  else
    fail "run 1: pgrouter runs as the image's numeric non-root user (uid '${uid:-none}')"
  fi
  if [ -z "$tini" ]; then
    fail "run 1: tini is the container's first process"
    kill -TERM "$outer"
    return
  fi
  stop_container "$tini" "$outer" "run 1"
}

# Run 2: what a container runtime adds and chroot isolation lacks. A PID namespace with tini
# as PID 1, the image root read-only, a tmpfs /tmp, the image's Env only. workers: 2; one
# worker is killed, and the processes under PID 1 are counted for zombies (state Z).
smoke_pid1_workers() {
  local c mnt outer tini primary victim user argv=() envs=()
  c=pgrouter-test-smoke
  mnt=$(bh mount "$c") || { fail "run 2: mount the image"; return; }
  mkdir -p "$mnt/etc/pgrouter"
  write_config "$WORK/etc-2" 2
  mapfile -t argv < <(image_argv)
  mapfile -t envs < <(image_env)
  user=$(image_user)
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare --pid --fork --mount --propagation private sh -c '
    set -e
    root=$1 conf=$2
    shift 2
    mount --bind "$root" "$root" && mount -o remount,bind,ro "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o size=16m,mode=1777 tmpfs "$root/tmp"
    mount --bind "$conf" "$root/etc/pgrouter" && mount -o remount,bind,ro "$root/etc/pgrouter"
    exec "$@"' sh "$mnt" "$WORK/etc-2" env -i "${envs[@]}" chroot --userspec="$user" "$mnt" "${argv[@]}" \
    >"$WORK/logs/run-2.log" 2>&1 &
  outer=$!
  STARTED_PIDS+=("$outer")
  check "run 2 (own PID namespace, read-only root, workers: 2): answers GET /health with 200" \
    wait_for 60 http_ok "http://127.0.0.1:$HTTP_PORT/health"
  tini=$(children "$outer" | head -n1)
  if [ -n "$tini" ] && grep -q '^NSpid:.*[[:space:]]1$' "/proc/$tini/status"; then
    pass "run 2: tini is PID 1 of the container"
  else
    fail "run 2: tini is PID 1 of the container"
  fi
  primary=$(pgrouter_pid "$outer")
  check "run 2: the primary forks 2 workers" wait_for 60 has_workers "${primary:-0}" 2
  if touch "/proc/${primary:-0}/root/app/.write-test" 2>/dev/null; then
    fail "run 2: the root filesystem is read-only"
  else
    pass "run 2: runs with a read-only root filesystem"
  fi
  victim=$(children "${primary:-0}" | head -n1)
  if [ -n "$victim" ]; then
    kill -KILL "$victim"
    check "run 2: a killed worker is respawned" wait_for 60 respawned "$primary" "$victim" 2
    check "run 2: no zombie under PID 1 after a worker died" wait_for 10 no_zombies_under "$tini"
    {
      echo "processes under the container's PID 1 (pid ppid state uid command), worker $victim killed:"
      proc_tree "$tini"
    } | tee -a "$WORK/logs/run-2-tree.log" | sed 's/^/      /'
    printf '      Z-state processes under PID 1: %s\n' "$(zombies_under "$tini")"
  else
    fail "run 2: a worker to kill"
  fi
  check "run 2: /health still answers 200 after the respawn" http_ok "http://127.0.0.1:$HTTP_PORT/health"
  [ -n "$tini" ] && stop_container "$tini" "$outer" "run 2"
  bh umount "$c" >/dev/null
}
