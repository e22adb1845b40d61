#!/usr/bin/env bash
# Installs the workspace's dependencies and builds it. Idempotent; safe to run again.
# Assumes Node.js >= 20 and npm (a fresh Debian 12 machine of the CI kind has both).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FAULTLINE_ROOT"

PNPM_VERSION=9.15.9

have node || die "node is not installed; install Node.js 20 first"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js >= 20 is required, found $(node --version)"
log "node $(node --version)"

if ! have pnpm; then
  have npm || die "neither pnpm nor npm is installed"
  log "installing pnpm@$PNPM_VERSION with npm"
  npm i -g "pnpm@$PNPM_VERSION"
  hash -r
fi
pnpm_version=$(pnpm --version)
if [ "$pnpm_version" != "$PNPM_VERSION" ]; then
  warn "pnpm $pnpm_version is installed; this repository pins pnpm@$PNPM_VERSION (package.json packageManager)"
else
  log "pnpm $pnpm_version"
fi

# Native addons (better-sqlite3) build with node-gyp against the local Node headers; without this
# node-gyp tries to download headers, which this network does not allow.
if [ -d /usr/include/node ]; then
  export npm_config_nodedir=/usr
fi

log "pnpm install --frozen-lockfile"
CI=${CI:-true} pnpm install --frozen-lockfile --config.confirmModulesPurge=false

log "pnpm build"
pnpm build

log "setup done"
