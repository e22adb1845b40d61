#!/usr/bin/env bash
# Makes sure a Docker engine answers and that the host tools the e2e tests and the agent use are
# present: busybox-static (test image), iptables, nsenter (util-linux), tc (iproute2).
# As root it installs what is missing with apt-get and starts dockerd in the background.
# Idempotent: does nothing when everything is already there.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOCKERD_WAIT_SECONDS=${DOCKERD_WAIT_SECONDS:-60}

# --- host tools ------------------------------------------------------------------------------
need_pkgs=()
static_busybox || need_pkgs+=(busybox-static)
have iptables || need_pkgs+=(iptables)
have nsenter || need_pkgs+=(util-linux)
have tc || need_pkgs+=(iproute2)
have docker || need_pkgs+=(docker.io)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if ! is_root; then
    die "missing: ${need_pkgs[*]}. Run this script as root, or install them (apt-get install -y ${need_pkgs[*]})"
  fi
  apt_install "${need_pkgs[@]}"
fi
for tool in iptables nsenter tc docker; do
  have "$tool" || die "$tool is still missing after installing packages"
done
static_busybox || die "/bin/busybox is missing or not statically linked (package busybox-static)"
log "host tools present: docker, iptables, nsenter, tc, static busybox"

# --- docker engine ---------------------------------------------------------------------------
if docker_ready; then
  log "docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
  exit 0
fi

is_root || die "the Docker engine does not answer (docker info failed) and this is not root, so it cannot be started here. Start dockerd (or ask an admin to), or run as root."

# docker.io may have been present without the daemon binary's package; make sure of dockerd.
have dockerd || apt_install docker.io
have dockerd || die "dockerd is not installed (package docker.io)"

# A daemon may already be starting (pid file present, process alive): wait for it instead of
# starting a second one.
pidfile=/var/run/docker.pid
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  log "dockerd (pid $(cat "$pidfile")) is running but not answering yet; waiting"
elif [ -d /run/systemd/system ] && have systemctl; then
  log "starting docker with systemctl"
  systemctl start docker
else
  logfile=/var/log/faultline-dockerd.log
  if ! { touch "$logfile"; } 2>/dev/null; then
    logfile=/tmp/faultline-dockerd.log
  fi
  # Without an init system nothing may have mounted the cgroup hierarchies dockerd needs
  # (Debian's /etc/init.d/docker does the same before starting the daemon).
  if ! mountpoint -q /sys/fs/cgroup && have cgroupfs-mount; then
    log "mounting cgroups (cgroupfs-mount)"
    cgroupfs-mount
  fi
  log "starting dockerd in the background (log: $logfile)"
  # setsid: the daemon outlives this script and is not hit by a Ctrl-C aimed at the test run.
  if have setsid; then
    setsid nohup dockerd >>"$logfile" 2>&1 </dev/null &
  else
    nohup dockerd >>"$logfile" 2>&1 </dev/null &
  fi
  log "dockerd started (pid $!)"
fi

if ! wait_until "$DOCKERD_WAIT_SECONDS" "docker engine answers" docker_ready; then
  if [ -n "${logfile:-}" ] && [ -f "$logfile" ]; then
    printf '==> last lines of %s:\n' "$logfile" >&2
    tail -n 30 "$logfile" >&2 || true
  fi
  die "the Docker engine did not answer within ${DOCKERD_WAIT_SECONDS}s"
fi
log "docker engine ready ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
