#!/usr/bin/env bash
# npm run test:containers: checks deploy/container, deploy/kubernetes, deploy/azure and
# deploy/prometheus offline, and builds and runs the image. Installs its Debian packages when
# run as root (tools.sh). Prints `N passed, M failed, K skipped` last; exits 1 on a failure.
#
# PGROUTER_TEST_CACHE (default /var/tmp/pgrouter-test-cache) keeps the debootstrapped base
# and the unpacked promtool between runs; everything else lives in a work directory that is
# removed at the end, with every container and image named pgrouter-test-*.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/pgrouter-test-XXXXXX")
mkdir -p "$WORK/logs"
STARTED_PIDS=()
START=$SECONDS

# shellcheck source=test/containers/lib.sh
source test/containers/lib.sh
# shellcheck source=test/containers/tools.sh
source test/containers/tools.sh
# shellcheck source=test/containers/image.sh
source test/containers/image.sh
# shellcheck source=test/containers/smoke.sh
source test/containers/smoke.sh

cleanup() {
  local pid c i
  for pid in "${STARTED_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null
    wait_for 10 gone "$pid" || kill -KILL "$pid" 2>/dev/null
  done
  if [ -d "$STORE" ]; then
    for c in $(bh containers --format '{{.ContainerName}}' 2>/dev/null | grep '^pgrouter-test-'); do
      bh umount "$c" >/dev/null 2>&1
      bh rm "$c" >/dev/null 2>&1
    done
    for i in $(bh images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep '^localhost/pgrouter-test-'); do bh rmi -f "$i" >/dev/null 2>&1; done
    bh rmi --prune >/dev/null 2>&1
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section "tools"
if ensure_tools; then TOOLS=ok; else TOOLS=missing; fail "install the tools the checks need"; fi

section "lint and format"
check "Dockerfile passes dockerfilelint" npx --no-install dockerfilelint -c deploy/container deploy/container/Dockerfile
if [ "$TOOLS" = ok ]; then
  check "shell scripts pass shellcheck" shellcheck -x deploy/azure/create-lb.sh test/containers/*.sh
  if [ -n "$TERRAFORM" ]; then
    check "deploy/azure/terraform passes terraform fmt -check" terraform fmt -check -diff deploy/azure/terraform
  else
    skip "terraform fmt -check: no terraform here (checks/azure.check.ts formats with hclwrite instead)"
  fi
  check "alert rules pass promtool check rules" "$PROMTOOL" check rules deploy/prometheus/pgrouter-alerts.yml
  check "alert rules pass their promtool unit tests" "$PROMTOOL" test rules deploy/prometheus/pgrouter-alerts.test.yml
  # Debian builds promtool without kubernetes_sd_configs: swap that block for a static one
  # so the rest of the file (relabelling, rule_files) is still checked.
  # shellcheck disable=SC2016 # expanded by the inner bash
  check "prometheus.yml passes promtool check config (its kubernetes_sd block swapped out)" \
    bash -c 'mkdir -p "$1/prom" && cp deploy/prometheus/pgrouter-alerts.yml "$1/prom/" &&
      node -e "const y=require(\"yaml\"),fs=require(\"fs\");const c=y.parse(fs.readFileSync(\"deploy/prometheus/prometheus.yml\",\"utf8\"));
        for (const j of c.scrape_configs) if (j.kubernetes_sd_configs) { delete j.kubernetes_sd_configs; j.static_configs=[{targets:[\"pod.invalid:8404\"]}]; }
        fs.writeFileSync(process.argv[1], y.stringify(c));" "$1/prom/prometheus.yml" && "$2" check config "$1/prom/prometheus.yml"' _ "$WORK" "$PROMTOOL"
fi

section "manifests, Dockerfile, Azure, alert rules (vitest: test/containers/checks)"
if [ "$TOOLS" = ok ]; then
  npx --no-install vitest run --config test/containers/vitest.config.ts --reporter=default --reporter=json \
    --outputFile.json="$WORK/vitest.json" 2>&1 | tee "$WORK/logs/vitest.log" | grep -E '✓|×|FAIL|Error|expected' | sed 's/^/  /'
  if [ -s "$WORK/vitest.json" ]; then
    read -r vp vf < <(node -e 'const r=require(process.argv[1]);console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTests ?? 0) + (r.success || r.numFailedTests ? 0 : 1))' "$WORK/vitest.json")
    PASSED=$((PASSED + vp))
    FAILED=$((FAILED + vf))
    printf '%s vitest checks passed, %s failed\n' "$vp" "$vf"
  else
    fail "vitest checks ran (see the log)"
    tail -n 30 "$WORK/logs/vitest.log"
  fi
fi

section "image: build on an offline base, then run it"
if [ "$TOOLS" != ok ]; then
  skip "image build and smoke runs: tools missing"
elif ! make_base_images >"$WORK/logs/base.log" 2>&1; then
  fail "offline base image (debootstrap bookworm minbase + Node.js $(node --version))"
  tail -n 30 "$WORK/logs/base.log" "$WORK/logs/debootstrap.log" 2>/dev/null
else
  pass "offline base image (debootstrap bookworm minbase + Node.js $(node --version))"
  build_started=$SECONDS
  check "deploy/container/Dockerfile builds with buildah bud --isolation chroot" build_image
  if bh inspect "$IMAGE" >/dev/null 2>&1; then
    echo "      built in $((SECONDS - build_started)) s"
    image_size_report | sed 's/^/      /'
    export PG_PORT RW_PORT RO_PORT HTTP_PORT
    read -r PG_PORT RW_PORT RO_PORT HTTP_PORT < <(free_ports 4)
    if start_fake_patroni; then
      smoke_buildah_run
      smoke_pid1_workers
    else
      fail "start the fake Patroni REST API"
    fi
  fi
fi

section "done in $((SECONDS - START)) s"
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
