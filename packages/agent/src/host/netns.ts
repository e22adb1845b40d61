import { readlink } from 'node:fs/promises';
import { run, runChecked, type RunOptions, type RunResult } from './exec.js';
import { AgentError } from './errors.js';

/** The `nsenter` argv (without the program) that runs `cmd args` in the network namespace of `pid`. */
export function nsenterArgs(pid: number, cmd: string, args: readonly string[]): string[] {
  assertPid(pid);
  return ['-t', String(pid), '-n', '--', cmd, ...args];
}

/** Runs `cmd args` inside the network namespace of process `pid` (`nsenter -t PID -n -- cmd ...`). */
export function nsRun(pid: number, cmd: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
  return run('nsenter', nsenterArgs(pid, cmd, args), options);
}

/** Like {@link nsRun}, but throws unless the command exits with code 0. */
export function nsRunChecked(pid: number, cmd: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
  return runChecked('nsenter', nsenterArgs(pid, cmd, args), options);
}

/** Throws unless `pid` is a plausible container process id: a positive integer, never 1 (the host's init). */
export function assertPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 1) {
    throw new AgentError('invalid_request', `invalid process id ${String(pid)}: the target container must be running`);
  }
}

/** The network namespace identity (`net:[inode]`) of a process, or null when it cannot be read. */
export async function netnsOf(pid: number | 'self'): Promise<string | null> {
  try {
    return await readlink(`/proc/${pid}/ns/net`);
  } catch {
    return null;
  }
}

/**
 * Refuses to touch the network namespace of `pid` when it is the agent's own or the host's (that of
 * pid 1, when the agent sees the host's processes), or cannot be read: a fault must never filter the
 * host's traffic, whatever the caller checked before.
 */
export async function assertContainerNetns(pid: number): Promise<void> {
  const [theirs, ours, init] = await Promise.all([netnsOf(pid), netnsOf('self'), netnsOf(1)]);
  if (theirs === null) throw new AgentError('conflict', `the network namespace of pid ${pid} is gone: the container is not running`);
  if (theirs === ours || theirs === init) {
    throw new AgentError('unsupported', `pid ${pid} shares the host's or the agent's network namespace (${theirs}): refusing to change it`);
  }
}
