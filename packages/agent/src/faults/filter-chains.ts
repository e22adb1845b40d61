import { AgentError } from '../host/errors.js';
import { faultComment } from '../host/iptables.js';
import { createFilterChains, removeFilterChains, type FilterChainSpec } from '../host/packet-filter.js';
import type { LedgerEntry } from '../ledger.js';
import { cleanupPid, ErrorList, idempotentRevert, inspectNetworkTarget, recordFault, throwIfAborted, undoPartlyApplied } from './common.js';
import type { FaultContext, FaultOrder, InjectResult } from './types.js';

/**
 * The life cycle shared by the faults that live in agent-owned iptables chains of the filter table
 * (network-loss, network-blackhole): record the chains in the ledger, create them, and revert from
 * the ledger alone, whether the container is the same, restarted (new namespace, nothing of ours
 * in it) or gone.
 */

/** The chains a ledger entry names (`chains`, or the single `chain`). */
export function chainsOf(entry: LedgerEntry): string[] {
  return entry.artifacts.chains ?? (entry.artifacts.chain === undefined ? [] : [entry.artifacts.chain]);
}

/** Removes the entry's chains from the container's current namespace (if it has one), then the entry. */
export async function revertFilterEntry(ctx: FaultContext, entry: LedgerEntry): Promise<void> {
  const log = ctx.log.child({ fault: entry.faultId, container: entry.containerName });
  const chains = chainsOf(entry);
  const errors = new ErrorList();
  // The container may have restarted (new pid, new namespace: our chains went with the old one) or
  // been removed (null): removing owned names from the current namespace is harmless either way.
  const pid = await cleanupPid(ctx, entry);
  if (pid !== null && chains.length > 0) await errors.step(() => removeFilterChains(pid, chains));
  errors.throwIfAny(`reverting ${entry.type} ${entry.faultId} on ${entry.containerName}`);
  await ctx.ledger.remove(entry.faultId);
  log.info({ chains, pid }, `${entry.type} reverted`);
}

/** What a filter-chain fault asks of {@link injectFilterFault}. */
export interface FilterFaultPlan {
  /** The validated params, as the ledger keeps them. */
  params: Record<string, unknown>;
  /** The chains to create, in order. */
  specs: FilterChainSpec[];
  /** Facts for the journal (the chains are added). */
  details: Record<string, unknown>;
}

/**
 * Injects a filter-chain fault: checks the target, records the ledger entry (state `applying`)
 * before touching anything, creates the chains, marks the entry `active`. A failure after the entry
 * was written undoes what was created; if even that fails, the entry stays for the next start.
 */
export async function injectFilterFault(ctx: FaultContext, order: FaultOrder, plan: FilterFaultPlan, signal: AbortSignal): Promise<InjectResult> {
  const what = `${order.type} on ${order.target.containerName}`;
  throwIfAborted(signal, what);
  const target = await inspectNetworkTarget(ctx, order.target);
  const chains = plan.specs.map((spec) => spec.chain);
  const entry = await recordFault(ctx, order, target, {
    params: plan.params,
    mechanism: 'iptables',
    artifacts: chains.length === 1 ? { chain: chains[0]!, chains, table: 'filter' } : { chains, table: 'filter' },
  });
  try {
    throwIfAborted(signal, what);
    await createFilterChains(target.pid, plan.specs, faultComment(order.faultId));
    const active = await ctx.ledger.update(order.faultId, { state: 'active' });
    ctx.log.info({ fault: order.faultId, container: target.name, pid: target.pid, chains, ...plan.details }, `${order.type} applied`);
    return {
      revert: idempotentRevert(async () => revertFilterEntry(ctx, (await ctx.ledger.get(order.faultId).catch(() => undefined)) ?? active)),
      details: { ...plan.details, mechanism: 'iptables', table: 'filter', chains, pid: target.pid },
    };
  } catch (error) {
    await undoPartlyApplied(ctx, entry, () => revertFilterEntry(ctx, entry), error);
    throw error;
  }
}

/** Validates an optional list of TCP ports (non-empty, 1-65535); duplicates are dropped. */
export function parsePorts(value: unknown, type: string): number[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)) {
    throw new AgentError('invalid_request', `invalid ports ${JSON.stringify(value)} for ${type}: give a non-empty list of TCP ports 1-65535`);
  }
  return [...new Set(value as number[])];
}
