import { spawn } from 'node:child_process';

/** Options of {@link run}. */
export interface RunOptions {
  /** Kill the command (SIGKILL) after this many milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. Default: stdin closed at once. */
  input?: string | Buffer;
}

/** What a finished command produced. */
export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the command was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_OUTPUT = 16 * 1024 * 1024;

/**
 * Runs `cmd` with an argument array (never through a shell) and resolves with its output and exit
 * code, whatever the code. Rejects only when the command cannot be started (e.g. ENOENT).
 */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], shell: false, windowsHide: true });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let outBytes = 0;
    let timedOut = false;
    let settled = false;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes <= MAX_OUTPUT) into.push(chunk);
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        code,
        signal,
        timedOut,
      });
    });
    // A command that exits without reading its stdin makes the write fail with EPIPE: not our error.
    child.stdin.on('error', () => undefined);
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** A command that exited with a non-zero code, was killed or timed out. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly cmd: string;
  readonly args: readonly string[];
  readonly result: RunResult;

  constructor(cmd: string, args: readonly string[], result: RunResult) {
    const how = result.timedOut
      ? 'timed out'
      : result.code === null
        ? `was killed by ${result.signal ?? 'a signal'}`
        : `exited with code ${result.code}`;
    const stderr = result.stderr.trim();
    super(`command ${formatCommand(cmd, args)} ${how}${stderr ? `: ${stderr}` : ''}`);
    this.cmd = cmd;
    this.args = args;
    this.result = result;
  }

  get code(): number | null {
    return this.result.code;
  }

  get stderr(): string {
    return this.result.stderr;
  }
}

/** Like {@link run}, but throws a {@link CommandError} unless the command exits with code 0. */
export async function runChecked(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(cmd, args, options);
  if (result.code !== 0 || result.timedOut) throw new CommandError(cmd, args, result);
  return result;
}

/** A readable rendering of a command line for messages (never executed). */
export function formatCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : JSON.stringify(part))).join(' ');
}
