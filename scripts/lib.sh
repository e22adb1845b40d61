# shellcheck shell=bash
# Helpers sourced by the scripts in this folder. Not meant to be run on its own.

# Repository root (the parent of this scripts/ folder).
FAULTLINE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export FAULTLINE_ROOT

log() { printf '==> %s\n' "$*"; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die() {
  printf '==> ERROR: %s\n' "$*" >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# apt_update_once: `apt-get update`, at most once per test run. The scripts of one run are separate
# processes, so the mark is a file: scripts/test.sh exports FAULTLINE_APT_STAMP for the whole run
# (without it, once per process).
_FAULTLINE_APT_UPDATED=0
apt_update_once() {
  if [ "$_FAULTLINE_APT_UPDATED" -eq 1 ] || { [ -n "${FAULTLINE_APT_STAMP:-}" ] && [ -e "$FAULTLINE_APT_STAMP" ]; }; then
    return 0
  fi
  log "apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  _FAULTLINE_APT_UPDATED=1
  if [ -n "${FAULTLINE_APT_STAMP:-}" ]; then : >"$FAULTLINE_APT_STAMP"; fi
}

# apt_install PKG...: installs the packages that are not installed yet (root only).
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  is_root || die "missing packages: ${missing[*]}; install them as root (apt-get install -y ${missing[*]})"
  have apt-get || die "missing packages: ${missing[*]}, and apt-get is not available to install them"
  apt_update_once
  log "apt-get install ${missing[*]}"
  # FAULTLINE_APT_NO_RECOMMENDS=1 skips recommended packages (chromium and prometheus pull in over
  # a hundred we do not need); the Docker install keeps them, as checked by hand.
  local extra=()
  [ "${FAULTLINE_APT_NO_RECOMMENDS:-0}" = 1 ] && extra+=(--no-install-recommends)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${extra[@]}" "${missing[@]}"
}

# wait_until SECONDS DESCRIPTION CMD...: runs CMD every second until it succeeds; fails after SECONDS.
wait_until() {
  local timeout="$1" what="$2" waited=0
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$waited" -ge "$timeout" ]; then
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  [ "$waited" -gt 0 ] && log "$what after ${waited}s"
  return 0
}

docker_ready() { docker info >/dev/null 2>&1; }

# A statically linked /bin/busybox (busybox-static), which can be copied into an empty image.
static_busybox() {
  local bb=/bin/busybox
  [ -x "$bb" ] || return 1
  # ldd fails ("not a dynamic executable") on a static binary.
  if ldd "$bb" >/dev/null 2>&1; then return 1; fi
  return 0
}

# step NAME CMD...: runs one named step with timing; on failure prints which step failed.
FAULTLINE_STEPS_DONE=()
step() {
  local name="$1" start rc
  shift
  log "[$name] $*"
  start=$(date +%s)
  set +e
  "$@"
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    printf '==> FAILED: step "%s" exited with %s after %ss\n' "$name" "$rc" "$(($(date +%s) - start))" >&2
    exit "$rc"
  fi
  log "[$name] ok ($(($(date +%s) - start))s)"
  FAULTLINE_STEPS_DONE+=("$name")
}
