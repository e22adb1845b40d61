import { AgentError } from '../host/errors.js';
import type { ContainerDetails } from '../host/docker.js';
import type { LedgerEntry } from '../ledger.js';
import { paramsObject, recordFault, toMs, undoPartlyApplied } from './common.js';
import type { FaultContext, FaultOrder } from './types.js';

/** Parameters of container-stop and container-restart. */
export interface ContainerTimeoutParams {
  /** Grace period between the stop signal and SIGKILL, in ms. Default 10 000 (Docker's default). */
  timeoutMs: number;
}

/** Docker's default grace period. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/**
 * Validates the params of container-stop / container-restart: `timeoutMs` in milliseconds, or the
 * manifest's `timeout` as milliseconds or a duration string. Nothing else is accepted.
 */
export function parseContainerTimeoutParams(params: unknown, type: string): ContainerTimeoutParams {
  const raw = paramsObject(params, type);
  const unknown = Object.keys(raw).filter((key) => key !== 'timeoutMs' && key !== 'timeout');
  if (unknown.length > 0) throw new AgentError('invalid_request', `unknown params of ${type}: ${unknown.join(', ')} (only timeout is allowed)`);
  return { timeoutMs: toMs(raw.timeoutMs ?? raw.timeout ?? DEFAULT_STOP_TIMEOUT_MS, 'timeout') };
}

/** Docker's stop/restart API takes whole seconds: a grace period is rounded up, never shortened. */
export function timeoutSeconds(timeoutMs: number): number {
  return Math.ceil(timeoutMs / 1000);
}

/** Refuses params for a fault that takes none. */
export function parseNoParams(params: unknown, type: string): Record<string, never> {
  const raw = paramsObject(params, type);
  const keys = Object.keys(raw);
  if (keys.length > 0) throw new AgentError('invalid_request', `${type} takes no params (got ${keys.join(', ')})`);
  return {};
}

/** Writes the ledger entry of a container fault before anything is touched. */
export function recordContainerFault(ctx: FaultContext, order: FaultOrder, target: ContainerDetails, mechanism: string, params: unknown): Promise<LedgerEntry> {
  return recordFault(ctx, order, target, { params, mechanism, artifacts: {} });
}

/**
 * Undoes a partly applied container fault with its revert; if that fails too, the ledger keeps the
 * entry so that the next start of the agent (or the fault manager's clean-up) tries again.
 */
export function undoContainerFault(
  ctx: FaultContext,
  entry: LedgerEntry,
  revert: (ctx: FaultContext, entry: LedgerEntry) => Promise<void>,
  cause: unknown,
): Promise<void> {
  return undoPartlyApplied(ctx, entry, () => revert(ctx, entry), cause);
}
