import type { Probe, ProbeOutcome, ProbePhase, ProbeResult } from '@faultline/shared';
import { errorMessage, runNetworkProbe } from '@faultline/shared';
import { runExecProbe } from './exec.js';

/** Options of {@link runProbe}. */
export interface RunProbeOptions {
  /** Whether `exec` probes may run (`--allow-exec-probes`); when false they fail without running. */
  allowExec: boolean;
  /** Aborts the attempt; the result then fails with `aborted`. */
  signal?: AbortSignal;
}

/**
 * Runs one attempt of a steady-state probe on the controller. Never throws: every problem,
 * including a refused exec probe or an abort, is a failed {@link ProbeResult} with an `error`.
 */
export async function runProbe(probe: Probe, phase: ProbePhase, opts: RunProbeOptions): Promise<ProbeResult> {
  const at = Date.now();
  const started = performance.now();
  let outcome: ProbeOutcome;
  try {
    outcome = opts.signal?.aborted ? { ok: false, output: 'not run', error: 'aborted' } : await dispatch(probe, opts);
  } catch (error) {
    // Probe implementations turn expected failures into outcomes; this is a bug or an odd input.
    const message = errorMessage(error);
    outcome = { ok: false, output: `probe error: ${message}`, error: message };
  }
  const result: ProbeResult = {
    probe: probe.name,
    type: probe.type,
    phase,
    ok: outcome.ok,
    at,
    durationMs: Math.round(performance.now() - started),
    from: 'controller',
    output: outcome.output,
  };
  if (!outcome.ok) result.error = outcome.error ?? 'failed';
  return result;
}

function dispatch(probe: Probe, opts: RunProbeOptions): Promise<ProbeOutcome> {
  if (probe.type === 'exec') return runExecProbe(probe, opts.allowExec, opts.signal);
  return runNetworkProbe(probe, opts.signal);
}
