/**
 * The latency proxy program. The agent starts it inside a container's network namespace:
 *
 *   nsenter -t PID -n -- node latency-proxy-main.js faultline-latency-proxy --fault ID \
 *     --map 0:80,0:8080 --latency-ms 100 --jitter-ms 10 --deadline EPOCH_MS --chain FL-...
 *
 * It prints `READY <pid> <target>=<listen>,...` once every listener is up (or `ERROR ...` and exits
 * non-zero), exits on SIGTERM/SIGINT, and by itself 5 s after the deadline in case the agent is gone.
 * Whenever it exits it removes the redirect chain it serves, so traffic is never sent to a dead port.
 */
import { removeChain } from './iptables.js';
import { parseProxyArgv, ProxyBindError, startDelayingProxy, type DelayingProxy, type ProxyArgs } from './latency-proxy-server.js';

const BACKSTOP_GRACE_MS = 5_000;
// setTimeout holds at most 2^31-1 ms; longer waits are re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1;

function say(line: string): void {
  try {
    process.stdout.write(`${line}\n`);
  } catch {
    // The agent closes our stdout after READY.
  }
}

process.stdout.on('error', () => undefined);

let args: ProxyArgs;
try {
  args = parseProxyArgv(process.argv.slice(2));
} catch (error) {
  say(`ERROR args ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
}

let proxy: DelayingProxy | undefined;
let exiting = false;

async function shutdown(code: number): Promise<never> {
  if (!exiting) {
    exiting = true;
    const hardStop = setTimeout(() => process.exit(code), 4_000);
    hardStop.unref();
    try {
      if (args.chain) await removeChain(process.pid, args.chain);
    } catch {
      // Best effort: the agent's revert removes the chain too and reports failures.
    }
    try {
      await proxy?.close();
    } catch {
      // exiting anyway
    }
    process.exit(code);
  }
  return new Promise<never>(() => undefined);
}

process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
process.on('SIGHUP', () => undefined);
process.on('uncaughtException', () => void shutdown(1));
process.on('unhandledRejection', () => void shutdown(1));

function armBackstop(deadline: number): void {
  const wait = deadline + BACKSTOP_GRACE_MS - Date.now();
  if (wait <= 0) {
    void shutdown(0);
    return;
  }
  setTimeout(() => armBackstop(deadline), Math.min(wait, MAX_TIMER_MS));
}

try {
  proxy = await startDelayingProxy({ map: args.map, latencyMs: args.latencyMs, jitterMs: args.jitterMs });
} catch (error) {
  if (error instanceof ProxyBindError) say(`ERROR bind ${error.port} ${error.code}`);
  else say(`ERROR start ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
if (args.deadline !== null) armBackstop(args.deadline);
say(`READY ${process.pid} ${proxy.ports.map((p) => `${p.targetPort}=${p.listenPort}`).join(',')}`);
