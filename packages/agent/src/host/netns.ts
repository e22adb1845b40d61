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
