import { spawn } from 'node:child_process';
import { deadline, formatDuration, MAX_CAPTURE_BYTES, parseDuration, quote, type Probe, type ProbeOutcome } from '@faultline/shared';

/** An `exec` probe. */
export type ExecProbe = Extract<Probe, { type: 'exec' }>;

/** The error of an exec probe on a controller started without `--allow-exec-probes`. */
export const EXEC_DISABLED_MESSAGE =
  'exec probes are disabled on this controller: start it with --allow-exec-probes to allow them';

/**
 * Runs an `exec` probe: the argv runs without a shell and must exit with `expect.exitCode`
 * (default 0) within the timeout, printing `expect.stdoutContains` if given.
 */
export async function runExecProbe(probe: ExecProbe, allowExec: boolean, signal?: AbortSignal): Promise<ProbeOutcome> {
  if (!allowExec) return { ok: false, output: 'not run', error: EXEC_DISABLED_MESSAGE };
  const [file, ...args] = probe.command;
  if (file === undefined || file === '') return { ok: false, output: 'not run', error: 'command is empty' };
  const timeoutMs = parseDuration(probe.timeout);
  const limit = deadline(timeoutMs, signal);
  const started = performance.now();
  let result: { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };
  try {
    result = await new Promise((resolve, reject) => {
      // Own process group, so a timeout also kills whatever the command started.
      const child = spawn(file, args, { shell: false, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const stdout = capture();
      const stderr = capture();
      child.stdout.on('data', stdout.add);
      child.stderr.on('data', stderr.add);
      const kill = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      limit.signal.addEventListener('abort', kill, { once: true });
      child.once('error', (error: NodeJS.ErrnoException) => {
        limit.signal.removeEventListener('abort', kill);
        if (error.code === 'ENOENT') reject(new Error(`command not found: ${quote(file)}`));
        else if (error.code === 'EACCES') reject(new Error(`permission denied running ${quote(file)}`));
        else reject(error);
      });
      child.once('close', (code, sig) => {
        limit.signal.removeEventListener('abort', kill);
        resolve({ code, signal: sig, stdout: stdout.text(), stderr: stderr.text() });
      });
    });
  } catch (error) {
    const message = (error as Error).message;
    return { ok: false, output: `could not run ${quote(file)}: ${message}`, error: message };
  } finally {
    limit.dispose();
  }
  const tookMs = Math.round(performance.now() - started);
  if (limit.signal.aborted) {
    const message = limit.timedOut() ? `timed out after ${formatDuration(timeoutMs)}` : 'aborted';
    return { ok: false, output: `killed after ${tookMs}ms`, error: message };
  }
  const output =
    result.code === null ? `killed by ${result.signal ?? 'a signal'} after ${tookMs}ms` : `exit code ${result.code} in ${tookMs}ms`;
  const problems: string[] = [];
  if (result.code !== probe.expect.exitCode) {
    const got = result.code === null ? `killed by ${result.signal ?? 'a signal'}` : String(result.code);
    const stderr = result.stderr.trim();
    problems.push(`expected exit code ${probe.expect.exitCode}, got ${got}${stderr ? ` (stderr: ${quote(stderr)})` : ''}`);
  }
  if (probe.expect.stdoutContains !== undefined && !result.stdout.includes(probe.expect.stdoutContains)) {
    problems.push(`stdout does not contain ${quote(probe.expect.stdoutContains)}`);
  }
  return problems.length === 0 ? { ok: true, output } : { ok: false, output, error: problems.join('; ') };
}

function capture() {
  const chunks: Buffer[] = [];
  let kept = 0;
  return {
    add: (chunk: Buffer) => {
      if (kept >= MAX_CAPTURE_BYTES) return;
      const part = chunk.subarray(0, MAX_CAPTURE_BYTES - kept);
      chunks.push(part);
      kept += part.length;
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}
