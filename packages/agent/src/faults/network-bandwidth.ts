import { removeOwnedQdisc } from '../host/tc.js';
import { applyTbf, burstBytes, parseRate, TBF_LATENCY_MS } from '../host/bandwidth.js';
import { AgentError } from '../host/errors.js';
import { qdiscHandleForFault } from '../host/tc.js';
import type { LedgerEntry } from '../ledger.js';
import { cleanupPid, ErrorList, idempotentRevert, inspectNetworkTarget, paramsObject, recordFault, throwIfAborted, undoPartlyApplied } from './common.js';
import type { FaultContext, FaultDriver } from './types.js';

/** The interface whose egress is shaped. */
export const BANDWIDTH_DEVICE = 'eth0';

/** Parameters of network-bandwidth. */
export interface NetworkBandwidthParams {
  /** As in the manifest, e.g. `1mbit` (decimal units: 1 000 000 bit/s). */
  rate: string;
}

/** Validates network-bandwidth params (`{rate}`). */
export function parseNetworkBandwidthParams(params: unknown): NetworkBandwidthParams {
  const raw = paramsObject(params, 'network-bandwidth');
  if (typeof raw.rate !== 'string') {
    throw new AgentError('invalid_request', `invalid rate ${JSON.stringify(raw.rate)} for network-bandwidth: write e.g. 1mbit`);
  }
  parseRate(raw.rate);
  return { rate: raw.rate };
}

async function revertEntry(ctx: FaultContext, entry: LedgerEntry): Promise<void> {
  const { dev, qdiscHandle } = entry.artifacts;
  const errors = new ErrorList();
  // Restarted container: a new namespace whose root is not ours, so nothing is deleted; removed: null.
  const pid = await cleanupPid(ctx, entry);
  if (pid !== null && dev && qdiscHandle) await errors.step(() => removeOwnedQdisc(pid, dev, qdiscHandle));
  errors.throwIfAny(`reverting network-bandwidth ${entry.faultId} on ${entry.containerName}`);
  await ctx.ledger.remove(entry.faultId);
  ctx.log.child({ fault: entry.faultId, container: entry.containerName }).info({ dev, qdiscHandle, pid }, 'network-bandwidth reverted');
}

/**
 * Limits what the container sends through `eth0` to `rate`: a `tbf` root qdisc under the handle
 * derived from the fault id (`qdiscHandleForFault`, never `0:`/`ffff:`). Egress only (a root qdisc
 * shapes what leaves the device). Refused, naming it, when `eth0` already has a root qdisc that is
 * not a kernel default, e.g. a user's shaping or a netem latency fault on the same container.
 */
export const networkBandwidthDriver: FaultDriver = {
  type: 'network-bandwidth',
  kind: 'sustained',
  async inject(ctx, order, signal) {
    const params = parseNetworkBandwidthParams(order.params);
    const what = `network-bandwidth on ${order.target.containerName}`;
    throwIfAborted(signal, what);
    const target = await inspectNetworkTarget(ctx, order.target);
    const handle = qdiscHandleForFault(order.faultId);
    const entry = await recordFault(ctx, order, target, {
      params: { ...params },
      mechanism: 'tbf',
      artifacts: { dev: BANDWIDTH_DEVICE, qdiscHandle: handle },
    });
    try {
      throwIfAborted(signal, what);
      try {
        await applyTbf(target.pid, BANDWIDTH_DEVICE, handle, params.rate);
      } catch (error) {
        if (error instanceof AgentError && error.code === 'conflict') {
          throw new AgentError('conflict', `container ${target.name}: ${error.message}`, { details: error.details, cause: error });
        }
        throw error;
      }
      const active = await ctx.ledger.update(order.faultId, { state: 'active' });
      const bits = parseRate(params.rate);
      ctx.log.info({ fault: order.faultId, container: target.name, rate: params.rate, handle }, 'network-bandwidth applied');
      return {
        revert: idempotentRevert(async () => revertEntry(ctx, (await ctx.ledger.get(order.faultId).catch(() => undefined)) ?? active)),
        details: {
          mechanism: 'tbf',
          rate: params.rate,
          bitsPerSecond: bits,
          burstBytes: burstBytes(bits),
          latencyMs: TBF_LATENCY_MS,
          direction: 'egress',
          dev: BANDWIDTH_DEVICE,
          qdiscHandle: handle,
          pid: target.pid,
        },
      };
    } catch (error) {
      await undoPartlyApplied(ctx, entry, () => revertEntry(ctx, entry), error);
      throw error;
    }
  },
  recover(ctx, entry) {
    return revertEntry(ctx, entry);
  },
};
