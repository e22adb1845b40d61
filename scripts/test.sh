#!/usr/bin/env bash
# THE test command: set up, make sure Docker runs, build the test image, then lint, type-check,
# unit tests and end-to-end tests. Stops at the first failure. Needs root on a fresh machine
# (installs packages and starts dockerd).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FAULTLINE_ROOT"

started=$(date +%s)
# One `apt-get update` for every install step of this run (see apt_update_once in lib.sh).
FAULTLINE_APT_STAMP="$(mktemp -u /tmp/faultline-apt-updated.XXXXXX)"
export FAULTLINE_APT_STAMP
trap 'rm -f "$FAULTLINE_APT_STAMP"' EXIT
scripts="$FAULTLINE_ROOT/scripts"

step setup bash "$scripts/setup.sh"
step docker bash "$scripts/ensure-docker.sh"
step tools bash "$scripts/ensure-tools.sh"
step test-image bash "$scripts/build-test-image.sh"
step netem-kernel bash "$scripts/netem-kernel.sh"
step lint pnpm lint
step typecheck pnpm typecheck
step unit pnpm exec vitest run --project unit
step e2e pnpm exec vitest run --project e2e

log "ALL PASSED: ${FAULTLINE_STEPS_DONE[*]} in $(($(date +%s) - started))s"
