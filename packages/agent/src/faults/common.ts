import { AgentError, messageOf } from '../host/errors.js';
import type { ContainerDetails } from '../host/docker.js';
import { assertContainerNetns } from '../host/netns.js';
import { nothingAdded } from '../host/tc.js';
import type { LedgerEntry, LedgerRecord } from '../ledger.js';
import type { FaultContext, FaultOrder, FaultTarget, Revert } from './types.js';

/** Throws an `aborted` error when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal, what: string): void {
  if (signal.aborted) throw new AgentError('aborted', `${what} was aborted`, { cause: signal.reason });
}

/** Inspects the target and refuses protected containers. Throws `not_found` when it does not exist. */
export async function inspectTarget(ctx: FaultContext, target: FaultTarget): Promise<ContainerDetails> {
  const details = await ctx.docker.tryInspect(target.containerId);
  if (!details) throw new AgentError('not_found', `container ${target.containerName} (${target.containerId.slice(0, 12)}) does not exist on this host`);
  if (ctx.docker.isProtected(details)) {
    throw new AgentError('invalid_request', `container ${details.name} is protected (faultline.protected=true, Faultline's own, or the agent's) and is never a target`);
  }
  return details;
}

/**
 * The target's details when it can take a network fault: running, with its own network namespace
 * (not the host's, not the agent's), and a pid the agent can see.
 */
export async function inspectNetworkTarget(ctx: FaultContext, target: FaultTarget): Promise<ContainerDetails> {
  const details = await inspectTarget(ctx, target);
  if (!details.running || details.pid <= 1) {
    throw new AgentError('conflict', `container ${details.name} is not running (${details.status}): network faults need a running container`);
  }
  if (details.networkMode === 'host' || details.networkMode === 'none') {
    throw new AgentError('unsupported', `container ${details.name} uses network mode "${details.networkMode}": network faults need a container network namespace`);
  }
  if (!(await ctx.docker.pidBelongsTo(details.pid, details.id))) {
    throw new AgentError('internal', `pid ${details.pid} of container ${details.name} is not visible to the agent: run the agent in the host's pid namespace`);
  }
  await assertContainerNetns(details.pid).catch((error: unknown) => {
    throw new AgentError('unsupported', `container ${details.name}: ${messageOf(error)}`, { cause: error });
  });
  return details;
}

/**
 * A pid whose network namespace may still hold what `entry` created, or null when that namespace is
 * gone (container removed or stopped). After a restart the container has a new namespace, which
 * cannot hold our rules unless it is shared; cleaning it is harmless because removal only touches
 * names we own.
 */
export async function cleanupPid(ctx: FaultContext, entry: LedgerEntry): Promise<number | null> {
  const details = await ctx.docker.tryInspect(entry.containerId);
  if (!details || !details.running || details.pid <= 1) return null;
  if (!(await ctx.docker.pidBelongsTo(details.pid, details.id))) return null;
  return (await assertContainerNetns(details.pid).then(() => true, () => false)) ? details.pid : null;
}

/**
 * Writes a fault's ledger entry (state `applying`) for `target`, before anything is touched, with
 * the deadline the order's duration gives (null for none).
 */
export function recordFault(
  ctx: FaultContext,
  order: FaultOrder,
  target: ContainerDetails,
  fields: Pick<LedgerRecord, 'params' | 'mechanism' | 'artifacts'>,
): Promise<LedgerEntry> {
  return ctx.ledger.record({
    faultId: order.faultId,
    runId: order.runId,
    type: order.type,
    containerId: target.id,
    containerName: target.name,
    pid: target.pid,
    containerStartedAt: target.startedAt,
    params: fields.params,
    mechanism: fields.mechanism,
    artifacts: fields.artifacts,
    deadline: order.durationMs === null ? null : Date.now() + order.durationMs,
  });
}

/**
 * Undoes a partly applied fault with `undo`; if that fails too, logs it and leaves the ledger entry
 * so that the next start of the agent (or the fault manager's clean-up) tries again.
 */
export async function undoPartlyApplied(ctx: FaultContext, entry: LedgerEntry, undo: () => Promise<void>, cause: unknown): Promise<void> {
  try {
    // A refusal before anything was added: whatever is there (e.g. a root qdisc whose derived handle
    // happens to equal ours) belongs to someone else.
    if (nothingAdded(cause)) await ctx.ledger.remove(entry.faultId);
    else await undo();
  } catch (undoError) {
    ctx.log.error(
      { fault: entry.faultId, container: entry.containerName, err: undoError, cause: messageOf(cause) },
      `could not undo a partly applied ${entry.type}; the ledger keeps it for recovery`,
    );
  }
}

/**
 * Wraps a revert so it is idempotent: once it succeeded, later calls resolve at once; concurrent
 * calls share one attempt; after a failure the next call tries again.
 */
export function idempotentRevert(revert: () => Promise<void>): Revert {
  let done = false;
  let running: Promise<void> | undefined;
  return async () => {
    if (done) return;
    running ??= revert().then(
      () => {
        done = true;
        running = undefined;
      },
      (error: unknown) => {
        running = undefined;
        throw error;
      },
    );
    await running;
  };
}

/** Collects errors of independent clean-up steps, so one failure does not skip the others. */
export class ErrorList {
  readonly errors: unknown[] = [];

  async step(task: () => Promise<unknown>): Promise<void> {
    try {
      await task();
    } catch (error) {
      this.errors.push(error);
    }
  }

  throwIfAny(what: string): void {
    if (this.errors.length === 0) return;
    throw new AgentError('revert_failed', `${what}: ${this.errors.map(messageOf).join('; ')}`, {
      cause: this.errors[0],
      details: { errors: this.errors.map(messageOf) },
    });
  }
}

/** Milliseconds from a number (already ms) or a duration string like `100ms`, `1.5s`, `2m`. */
export function toMs(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
    if (match) return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  }
  throw new AgentError('invalid_request', `invalid ${field} ${JSON.stringify(value)}: give milliseconds or a duration such as 100ms`);
}

/** The params as a plain object (an absent params is `{}`). */
export function paramsObject(params: unknown, type: string): Record<string, unknown> {
  if (params === undefined || params === null) return {};
  if (typeof params !== 'object' || Array.isArray(params)) throw new AgentError('invalid_request', `params of ${type} must be an object`);
  return params as Record<string, unknown>;
}
