import { AgentError } from '../host/errors.js';
import type { LedgerEntry } from '../ledger.js';
import { idempotentRevert, inspectTarget, throwIfAborted } from './common.js';
import { parseNoParams, recordContainerFault, undoContainerFault } from './container-common.js';
import type { FaultContext, FaultDriver } from './types.js';

/**
 * Unpauses the container of `entry` if it is paused, then checks with Docker that it is not paused
 * any more. Idempotent: a container that is not paused, stopped meanwhile, or removed needs nothing.
 * Removes the ledger entry once done.
 */
async function revertPause(ctx: FaultContext, entry: LedgerEntry): Promise<void> {
  const log = ctx.log.child({ fault: entry.faultId, container: entry.containerName });
  const before = await ctx.docker.tryInspect(entry.containerId);
  if (!before) {
    log.warn('the paused container was removed meanwhile: nothing to unpause');
    await ctx.ledger.remove(entry.faultId);
    return;
  }
  if (before.paused) {
    try {
      await ctx.docker.unpause(before.id);
    } catch (error) {
      // Someone else may have unpaused it between our inspect and our unpause: the check decides.
      log.warn({ err: error }, 'docker unpause failed: checking the container state');
    }
  }
  const after = await ctx.docker.tryInspect(entry.containerId);
  if (after?.paused) {
    throw new AgentError('revert_failed', `container ${after.name} is still paused after docker unpause: unpause it by hand (docker unpause ${after.id.slice(0, 12)})`);
  }
  if (after && !after.running) {
    log.warn({ status: after.status }, 'the container is no longer paused but not running either: something else stopped it; nothing of the fault is left');
  }
  await ctx.ledger.remove(entry.faultId);
  if (before.paused) log.info({ status: after?.status ?? 'removed' }, 'container unpaused');
}

/** Freezes every process of a container (`docker pause`, the cgroup freezer); unpaused at revert. */
export const containerPauseDriver: FaultDriver = {
  type: 'container-pause',
  kind: 'sustained',
  onTargetRestart: 'ignore',
  async inject(ctx, order, signal) {
    const params = parseNoParams(order.params, 'container-pause');
    const target = await inspectTarget(ctx, order.target);
    if (!target.running) throw new AgentError('conflict', `container ${target.name} is not running (${target.status}): nothing to pause`);
    if (target.paused) {
      // Its revert would unpause a container someone else paused.
      throw new AgentError('conflict', `container ${target.name} is already paused by someone else: Faultline does not take over a pause it did not make`);
    }
    throwIfAborted(signal, `container-pause of ${target.name}`);
    const entry = await recordContainerFault(ctx, order, target, 'docker-pause', params);
    // 409 from docker pause: someone paused it between our inspect and our pause; that pause is not ours to undo.
    let pausedBySomeoneElse = false;
    try {
      await ctx.docker.pause(target.id).catch((error: unknown) => {
        pausedBySomeoneElse = error instanceof AgentError && error.code === 'conflict';
        throw error;
      });
      const paused = await ctx.docker.inspect(target.id);
      if (!paused.paused) throw new AgentError('fault_failed', `container ${target.name} is not paused after docker pause (status ${paused.status})`);
      const active = await ctx.ledger.update(order.faultId, { state: 'active' });
      throwIfAborted(signal, `container-pause of ${target.name}`);
      ctx.log.info({ fault: order.faultId, container: target.name }, 'container paused');
      return {
        revert: idempotentRevert(() => revertPause(ctx, active)),
        details: { containerId: target.id, containerName: target.name, pid: target.pid },
      };
    } catch (error) {
      if (pausedBySomeoneElse) await ctx.ledger.remove(order.faultId);
      else await undoContainerFault(ctx, entry, revertPause, error);
      throw error;
    }
  },
  recover(ctx, entry) {
    return revertPause(ctx, entry);
  },
};
