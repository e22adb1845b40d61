/**
 * Child processes of the benchmarks: spawned with argument arrays, their output kept, and stopped
 * by their own pid (SIGTERM, then SIGKILL) when the benchmark ends, fails or is interrupted.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/dist/proc.js → ../..). */
export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
export const CONTROLLER_MAIN = join(ROOT, 'packages/controller/dist/main.js');
export const AGENT_MAIN = join(ROOT, 'packages/agent/dist/main.js');
export const PROXY_MAIN = join(ROOT, 'packages/agent/dist/host/latency-proxy-main.js');
/** A compiled bench program next to this module. */
export const benchProgram = (name: string): string => fileURLToPath(new URL(`./${name}.js`, import.meta.url));

export const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

const live = new Set<ChildProcess>();

/** Kills every child still running (SIGKILL, by pid). For exit paths. */
export function killAllChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}

/** A running child process. */
export interface Child {
  readonly pid: number;
  readonly process: ChildProcess;
  readonly lines: string[];
  /** The first output line matching `pattern` (already seen or future). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
  tail(n?: number): string;
}

function track(child: ChildProcess, name: string): Child {
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  live.add(child);
  const lines: string[] = [];
  const waiters = new Set<(line: string) => void>();
  const onLine = (line: string): void => {
    lines.push(line);
    if (lines.length > 2000) lines.splice(0, 1000);
    for (const waiter of waiters) waiter(line);
  };
  if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine);
  if (child.stderr) createInterface({ input: child.stderr }).on('line', onLine);
  const exited = new Promise<void>((done) => {
    child.once('exit', () => {
      live.delete(child);
      done();
    });
  });
  const handle: Child = {
    pid: child.pid,
    process: child,
    lines,
    tail: (n = 20) => lines.slice(-n).join('\n'),
    waitForLine(pattern, timeoutMs = 20_000) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolveLine, reject) => {
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(waiter);
          child.off('exit', onExit);
        };
        const waiter = (line: string): void => {
          if (!pattern.test(line)) return;
          cleanup();
          resolveLine(line);
        };
        const onExit = (): void => {
          cleanup();
          reject(new Error(`${name} exited before printing ${String(pattern)}:\n${handle.tail()}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${name} did not print ${String(pattern)} within ${timeoutMs} ms:\n${handle.tail()}`));
        }, timeoutMs);
        waiters.add(waiter);
        child.once('exit', onExit);
      });
    },
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return handle;
}

/** Spawns `cmd args` (no shell) with stdout and stderr captured. */
export function spawnChild(cmd: string, args: readonly string[], options: { name?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  return track(child, options.name ?? cmd);
}

/** Request/response over the IPC channel of a forked bench program (see rpc-server.ts). */
export interface RpcChild extends Child {
  call<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
}

interface RpcReply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** Forks a compiled bench program that serves {@link RpcChild.call} (it must call `serveRpc`). */
export async function forkRpc(program: string, options: { execArgv?: string[]; name?: string } = {}): Promise<RpcChild> {
  const child = fork(benchProgram(program), [], {
    execArgv: options.execArgv ?? ['--expose-gc'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const handle = track(child, options.name ?? program);
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  let next = 1;
  child.on('message', (raw: RpcReply) => {
    const waiting = pending.get(raw.id);
    if (!waiting) return;
    pending.delete(raw.id);
    clearTimeout(waiting.timer);
    if (raw.ok) waiting.resolve(raw.result);
    else waiting.reject(new Error(`${program}: ${raw.error ?? 'failed'}`));
  });
  child.once('exit', (code, signal) => {
    for (const waiting of pending.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(new Error(`${program} exited (${String(code ?? signal)}):\n${handle.tail()}`));
    }
    pending.clear();
  });
  await handle.waitForLine(/^RPC READY$/, 20_000);
  return {
    ...handle,
    call<T>(command: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
      const id = next++;
      return new Promise<T>((resolveCall, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${program}: ${command} did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: (value) => resolveCall(value as T), reject, timer });
        child.send({ id, command, args });
      });
    },
  };
}

const dirs = new Set<string>();

/** A temporary directory (under /dev/shm when `memory`), removed by `dispose` (or {@link cleanUpAll}). */
export function tempDir(prefix: string, memory = false): { path: string; dispose: () => void } {
  const base = memory ? '/dev/shm' : tmpdir();
  const path = mkdtempSync(join(base, `faultline-bench-${prefix}-`));
  dirs.add(path);
  return {
    path,
    dispose: () => {
      dirs.delete(path);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** Kills every child still running and removes every temporary directory. For exit paths. */
export function cleanUpAll(): void {
  killAllChildren();
  for (const path of dirs) rmSync(path, { recursive: true, force: true });
  dirs.clear();
}

let clockTicks: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time (user + system, seconds) of a process from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicksPerSecond();
}

/** Resident set size in bytes from /proc/<pid>/status (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}
