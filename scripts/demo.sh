#!/usr/bin/env bash
# The demo game day, end to end against real containers: sets up what is missing, starts three
# busybox web containers, a controller and an agent, runs experiments/demo.yaml (300 ms latency on
# web-1 while a sibling is killed), prints the journal as a report, and cleans everything up.
#   bash scripts/demo.sh            (or: pnpm demo)
# Environment: DEMO_PORT (controller port, default 17070), DEMO_KEEP=1 to leave the data dir.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FAULTLINE_ROOT"

bash scripts/setup.sh
bash scripts/ensure-docker.sh
bash scripts/build-test-image.sh

port="${DEMO_PORT:-17070}"
work="$(mktemp -d /tmp/faultline-demo-XXXXXX)"
containers=()
pids=()
token="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
agent_token="demo-agent-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

cleanup() {
  local status=$?
  log "cleaning up"
  # Stop what we started, by pid, agent first so it reverts its faults while the controller is up.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "${pids[$i]}" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "${pids[$i]}" 2>/dev/null || true
  done
  [ "${#containers[@]}" -gt 0 ] && docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  if [ "${DEMO_KEEP:-0}" = 1 ]; then log "kept logs and data in $work"; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT INT TERM

log "starting three web containers (faultline-demo-web-1..3 on 127.0.0.1:18081..18083)"
for i in 1 2 3; do
  name="faultline-demo-web-$i"
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --label app=faultline-demo-web -p "127.0.0.1:1808$i:80" faultline-test/busybox:1 >/dev/null
  containers+=("$name")
done

healthy() { node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "http://127.0.0.1:$port/healthz"; }
faultline() { node packages/controller/dist/main.js --server "http://127.0.0.1:$port" --token "$token" "$@"; }

log "starting the controller on 127.0.0.1:$port (data in $work/data, logs in $work/controller.log)"
node packages/controller/dist/main.js controller --listen "127.0.0.1:$port" --data "$work/data" \
  --experiments experiments --api-token "$token" --agent-token "$agent_token" >"$work/controller.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do healthy && break; sleep 0.2; done
healthy || { tail -20 "$work/controller.log"; die "the controller did not start"; }

log "starting an agent (logs in $work/agent.log)"
node packages/agent/dist/main.js --controller "http://127.0.0.1:$port" --token "$agent_token" --name demo-host \
  --labels zone=demo --state-dir "$work/agent" --lease-timeout 10s >"$work/agent.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do faultline agents --json 2>/dev/null | grep -q '"connected": *true' && break; sleep 0.2; done
faultline agents

log "running experiment 'demo' from experiments/demo.yaml"
set +e
faultline run demo
status=$?
set -e
run_id="$(faultline runs --experiment demo --limit 1 --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);process.stdout.write(r[0]?.id??"")})')"

log "container states after the run (one of web-2/web-3 was killed):"
docker ps -a --filter label=app=faultline-demo-web --format '  {{.Names}}\t{{.Status}}'

if [ -n "$run_id" ]; then
  log "the journal as a report (faultline report $run_id --format md):"
  faultline report "$run_id" --format md
fi
if [ "$status" -eq 0 ]; then log "demo finished: the hypothesis held (run completed)"; else warn "demo run did not complete (exit $status)"; fi
exit "$status"
