#!/usr/bin/env bash
# `pnpm bench [--quick] [NAME...]`: builds the packages and the benchmarks, then runs them.
# See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# Thousands of WebSocket connections per process: raise the open-file limit as far as allowed.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
  echo "bench: the open-file limit is $(ulimit -n); the 5,000-agent benchmarks need about 12,000 (raise the hard limit: ulimit -Hn)" >&2
  exit 1
fi
# Thousands of agents share this one process here, where each would have its own host: give their
# ledger writes (libuv's thread pool, 4 threads by default) a few more threads.
export UV_THREADPOOL_SIZE="${UV_THREADPOOL_SIZE:-16}"
pnpm --silent build
pnpm --silent exec tsc -p bench/tsconfig.json
exec node --expose-gc bench/dist/main.js "$@"
