import { AgentError } from '../host/errors.js';
import type { LedgerEntry } from '../ledger.js';
import { idempotentRevert, inspectTarget, throwIfAborted } from './common.js';
import { parseContainerTimeoutParams, recordContainerFault, timeoutSeconds, undoContainerFault } from './container-common.js';
import type { FaultContext, FaultDriver } from './types.js';

/**
 * Starts the container of `entry` again unless it already runs, then checks with Docker that it
 * runs; a container someone started and stopped again since the fault is left alone. Idempotent: a running container (started by someone else, or by its restart policy) needs
 * nothing; a removed one cannot be started and is reported in the log. Removes the ledger entry
 * once done.
 */
async function revertStop(ctx: FaultContext, entry: LedgerEntry): Promise<void> {
  const log = ctx.log.child({ fault: entry.faultId, container: entry.containerName });
  const before = await ctx.docker.tryInspect(entry.containerId);
  if (!before) {
    log.warn('the stopped container was removed meanwhile: nothing to start again');
    await ctx.ledger.remove(entry.faultId);
    return;
  }
  // A container started since the fault stopped it (by someone, or its restart policy) and stopped again
  // is not Faultline's stop: leave it as it is.
  if (!before.running && entry.containerStartedAt !== undefined && before.startedAt !== entry.containerStartedAt) {
    log.warn({ startedAt: before.startedAt }, 'the container was started and stopped again by someone else since the fault: not starting it');
    await ctx.ledger.remove(entry.faultId);
    return;
  }
  if (!before.running) await ctx.docker.start(before.id);
  const after = await ctx.docker.tryInspect(entry.containerId);
  if (!after) {
    log.warn('the container was removed while it was being started again');
  } else if (!after.running) {
    throw new AgentError(
      'revert_failed',
      `container ${after.name} is not running after docker start (status ${after.status}, exit code ${after.exitCode}): check its logs and start it by hand (docker start ${after.id.slice(0, 12)})`,
    );
  }
  await ctx.ledger.remove(entry.faultId);
  if (!before.running) log.info({ pid: after?.pid }, 'container started again');
}

/** Stops a container (`docker stop -t`: stop signal, SIGKILL after the timeout); started again at revert. */
export const containerStopDriver: FaultDriver = {
  type: 'container-stop',
  kind: 'sustained',
  onTargetRestart: 'ignore',
  async inject(ctx, order, signal) {
    const params = parseContainerTimeoutParams(order.params, 'container-stop');
    const target = await inspectTarget(ctx, order.target);
    if (!target.running) throw new AgentError('conflict', `container ${target.name} is not running (${target.status}): nothing to stop`);
    if (target.paused) throw new AgentError('conflict', `container ${target.name} is paused: Faultline stops only running containers`);
    if (target.autoRemove) {
      throw new AgentError('unsupported', `container ${target.name} was started with --rm: stopping it would remove it, so the fault could not be reverted`);
    }
    throwIfAborted(signal, `container-stop of ${target.name}`);
    const entry = await recordContainerFault(ctx, order, target, 'docker-stop', params);
    try {
      await ctx.docker.stop(target.id, timeoutSeconds(params.timeoutMs));
      const stopped = await ctx.docker.tryInspect(target.id);
      if (!stopped) throw new AgentError('fault_failed', `container ${target.name} was removed when it stopped: it cannot be started again`);
      if (stopped.running) throw new AgentError('fault_failed', `container ${target.name} is still running after docker stop (status ${stopped.status})`);
      const active = await ctx.ledger.update(order.faultId, { state: 'active' });
      // A revert that came while Docker was stopping it: start it again at once (catch below).
      throwIfAborted(signal, `container-stop of ${target.name}`);
      ctx.log.info({ fault: order.faultId, container: target.name, exitCode: stopped.exitCode }, 'container stopped');
      return {
        revert: idempotentRevert(() => revertStop(ctx, active)),
        details: { containerId: target.id, containerName: target.name, timeoutMs: params.timeoutMs, pid: target.pid, exitCode: stopped.exitCode },
      };
    } catch (error) {
      await undoContainerFault(ctx, entry, revertStop, error);
      throw error;
    }
  },
  recover(ctx, entry) {
    return revertStop(ctx, entry);
  },
};
