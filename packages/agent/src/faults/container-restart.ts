import { AgentError } from '../host/errors.js';
import { inspectTarget, throwIfAborted } from './common.js';
import { parseContainerTimeoutParams, timeoutSeconds } from './container-common.js';
import type { FaultDriver } from './types.js';

/**
 * Restarts a container (`docker restart -t`: stop signal, SIGKILL after the timeout, start) and
 * checks that it came back: running, with a new start time. Instant: there is nothing to revert, and
 * no ledger entry (the engine finishes a restart it has begun even if the agent dies).
 */
export const containerRestartDriver: FaultDriver = {
  type: 'container-restart',
  kind: 'instant',
  async inject(ctx, order, signal) {
    const params = parseContainerTimeoutParams(order.params, 'container-restart');
    const target = await inspectTarget(ctx, order.target);
    if (!target.running) throw new AgentError('conflict', `container ${target.name} is not running (${target.status}): nothing to restart`);
    throwIfAborted(signal, `container-restart of ${target.name}`);
    const started = performance.now();
    await ctx.docker.restart(target.id, timeoutSeconds(params.timeoutMs));
    const tookMs = Math.round(performance.now() - started);
    const after = await ctx.docker.tryInspect(target.id);
    if (!after) throw new AgentError('fault_failed', `container ${target.name} was removed while it restarted`);
    if (!after.running || after.startedAt === target.startedAt) {
      throw new AgentError(
        'fault_failed',
        `container ${target.name} did not come back after docker restart (status ${after.status}, exit code ${after.exitCode}): check its logs`,
      );
    }
    ctx.log.info({ fault: order.faultId, container: target.name, oldPid: target.pid, newPid: after.pid, tookMs }, 'container restarted');
    return {
      revert: async () => undefined,
      details: {
        containerId: target.id,
        containerName: target.name,
        timeoutMs: params.timeoutMs,
        oldPid: target.pid,
        newPid: after.pid,
        startedAt: after.startedAt,
        tookMs,
      },
    };
  },
  async recover(ctx, entry) {
    // Nothing was left behind; just forget the entry.
    await ctx.ledger.remove(entry.faultId);
  },
};
