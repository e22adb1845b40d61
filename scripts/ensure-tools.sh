#!/usr/bin/env bash
# Makes sure the extra programs some tests drive are present: Prometheus and promtool (package
# prometheus: the /metrics lint and the Prometheus end-to-end test) and Chromium (package
# chromium: the HTML report test, driven by playwright-core). As root it installs what is missing
# with apt-get. Idempotent: does nothing when everything is already there.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_pkgs=()
{ have prometheus && have promtool; } || need_pkgs+=(prometheus)
# fonts-liberation: without recommends, Chromium would have no font to draw the report with.
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium fonts-liberation)
# openssl: certificates of the TLS test; iproute2 (ip): the network namespace of the partition test.
have openssl || need_pkgs+=(openssl)
have ip || need_pkgs+=(iproute2)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  # apt_install refuses (with the command to run) when this is not root.
  FAULTLINE_APT_NO_RECOMMENDS=1 apt_install "${need_pkgs[@]}"
fi
for tool in prometheus promtool; do
  have "$tool" || die "$tool is still missing after installing packages (package prometheus)"
done
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is still missing after installing packages (package chromium)"
# Debian's package starts a Prometheus service where an init system runs; the tests start their
# own on a free port and never use it.
log "tools present: prometheus $(prometheus --version 2>&1 | head -n 1 | awk '{print $3}'), promtool, $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
