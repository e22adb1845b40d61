import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { AgentError, messageOf } from './errors.js';
import { buildProxyArgv, PROXY_MARKER, type ProxyMapping } from './latency-proxy-server.js';
import { nsenterArgs } from './netns.js';

export { PROXY_MARKER, type ProxyMapping } from './latency-proxy-server.js';

/** Options of {@link startProxy}. */
export interface StartProxyOptions {
  /** Host pid of a process in the target's network namespace. */
  pid: number;
  faultId: string;
  /** Target ports to serve; `listenPort` 0 (the default when a bare port is given) lets the kernel pick a free one. */
  map: ReadonlyArray<ProxyMapping | number>;
  latencyMs: number;
  jitterMs: number;
  /** Epoch ms of the fault's deadline; the proxy exits by itself 5 s later. Null: no backstop. */
  deadline: number | null;
  /** The redirect chain serving this proxy; the proxy removes it when it exits. */
  chain?: string;
  /** Path of the compiled latency-proxy-main.js; default the one next to this module. */
  script?: string;
  /** Default 5000. */
  readyTimeoutMs?: number;
}

/** A started proxy. */
export interface StartedProxy {
  proxyPid: number;
  /** Target port → the port the proxy listens on. */
  ports: ProxyMapping[];
}

/** A running latency proxy found in /proc. */
export interface FoundProxy {
  pid: number;
  faultId: string;
  argv: string[];
}

/** The compiled proxy program next to this module, or undefined when running from sources. */
export function defaultProxyScript(): string | undefined {
  const path = fileURLToPath(new URL('./latency-proxy-main.js', import.meta.url));
  return existsSync(path) ? path : undefined;
}

/** The argv of a proxy process (from /proc/<pid>/cmdline), or null when the process is gone or a zombie. */
async function readCmdline(pid: number): Promise<string[] | null> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    if (raw.length === 0) return null;
    const argv = raw.split('\0');
    if (argv[argv.length - 1] === '') argv.pop();
    return argv;
  } catch {
    return null;
  }
}

/** The fault id of a proxy argv, or undefined when the argv is not one of ours. */
export function proxyFaultId(argv: readonly string[]): string | undefined {
  // Exactly `node <dir>/latency-proxy-main.js faultline-latency-proxy --fault ID ...`, as startProxy runs it.
  if (!argv[1]?.endsWith('latency-proxy-main.js') || argv[2] !== PROXY_MARKER || argv[3] !== '--fault') return undefined;
  return argv[4] || undefined;
}

async function isOurProxy(pid: number, faultId: string): Promise<boolean> {
  const argv = await readCmdline(pid);
  return argv !== null && proxyFaultId(argv) === faultId;
}

function normaliseMap(map: StartProxyOptions['map']): ProxyMapping[] {
  return map.map((entry) => (typeof entry === 'number' ? { listenPort: 0, targetPort: entry } : { ...entry }));
}

/**
 * Starts the delaying proxy inside `pid`'s network namespace, detached in its own process group so it
 * survives the agent, and resolves once it reports READY (rejects after `readyTimeoutMs`).
 */
export async function startProxy(options: StartProxyOptions): Promise<StartedProxy> {
  const script = options.script ?? defaultProxyScript();
  if (!script) {
    throw new AgentError('unsupported', 'the latency proxy program latency-proxy-main.js was not found next to the agent: build the agent (pnpm build) first');
  }
  const map = normaliseMap(options.map);
  if (map.length === 0) throw new AgentError('invalid_request', 'the latency proxy needs at least one port');
  const proxyArgv = buildProxyArgv({
    faultId: options.faultId,
    map,
    latencyMs: options.latencyMs,
    jitterMs: options.jitterMs,
    deadline: options.deadline,
    ...(options.chain === undefined ? {} : { chain: options.chain }),
  });
  // nsenter -n does not fork: the child pid becomes the node process itself.
  const child = spawn('nsenter', nsenterArgs(options.pid, process.execPath, [script, ...proxyArgv]), {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
    shell: false,
  });
  const timeoutMs = options.readyTimeoutMs ?? 5_000;

  return new Promise<StartedProxy>((resolve, reject) => {
    let buffer = '';
    let done = false;
    const finish = (error: Error | null, result?: StartedProxy): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stdout?.removeAllListeners('data');
      child.stdout?.destroy();
      child.removeListener('exit', onExit);
      child.unref();
      if (error) {
        // Never leave a half-started proxy behind. The pid is our own child, so it is safe to signal.
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        reject(error);
      } else {
        resolve(result!);
      }
    };
    const timer = setTimeout(() => {
      finish(new AgentError('fault_failed', `the latency proxy in the namespace of pid ${options.pid} did not report READY within ${timeoutMs} ms`));
    }, timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      finish(
        new AgentError('fault_failed', `the latency proxy in the namespace of pid ${options.pid} exited before it was ready (${signal ?? `code ${String(code)}`})${buffer.trim() ? `: ${buffer.trim()}` : ''}`),
      );
    };
    child.on('exit', onExit);
    child.on('error', (error) => finish(new AgentError('fault_failed', `cannot start the latency proxy: ${messageOf(error)}`, { cause: error })));
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => {
      buffer += text;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        const ready = /^READY (\d+)(?: (.*))?$/.exec(line);
        if (ready) {
          const ports: ProxyMapping[] = (ready[2] ?? '')
            .split(',')
            .filter(Boolean)
            .map((pair) => {
              const [target, listen] = pair.split('=');
              return { targetPort: Number(target), listenPort: Number(listen) };
            });
          finish(null, { proxyPid: Number(ready[1]), ports });
          return;
        }
        if (line.startsWith('ERROR')) {
          const bind = /^ERROR bind (\d+) (\S+)/.exec(line);
          finish(
            new AgentError(
              bind ? 'conflict' : 'fault_failed',
              bind
                ? `the latency proxy cannot listen on port ${bind[1]} in the namespace of pid ${options.pid} (${bind[2]})`
                : `the latency proxy failed to start: ${line.slice('ERROR'.length).trim()}`,
            ),
          );
          return;
        }
      }
    });
  });
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function waitGone(pid: number, faultId: string, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isOurProxy(pid, faultId))) return true;
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Stops the proxy `proxyPid` of fault `faultId`: SIGTERM, then SIGKILL after a grace period, and
 * waits until it is gone. Idempotent; a pid whose cmdline is not that proxy's is never signalled.
 */
export async function stopProxy(proxyPid: number, faultId: string, options: { graceMs?: number } = {}): Promise<void> {
  if (!Number.isSafeInteger(proxyPid) || proxyPid <= 1) return;
  if (!(await isOurProxy(proxyPid, faultId))) return;
  signalPid(proxyPid, 'SIGTERM');
  if (await waitGone(proxyPid, faultId, options.graceMs ?? 4_500)) return;
  if (await isOurProxy(proxyPid, faultId)) signalPid(proxyPid, 'SIGKILL');
  if (await waitGone(proxyPid, faultId, 2_000)) return;
  throw new AgentError('revert_failed', `the latency proxy of fault ${faultId} (pid ${proxyPid}) is still running after SIGKILL`);
}

/** Latency proxies running on this host (all, or those of `faultId`), found by their argv marker. */
export async function findProxies(faultId?: string): Promise<FoundProxy[]> {
  const found: FoundProxy[] = [];
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const argv = await readCmdline(pid);
    if (!argv) continue;
    const id = proxyFaultId(argv);
    if (id === undefined || (faultId !== undefined && id !== faultId)) continue;
    found.push({ pid, faultId: id, argv });
  }
  return found;
}
