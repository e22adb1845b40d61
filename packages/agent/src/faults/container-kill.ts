import { AgentError } from '../host/errors.js';
import { inspectTarget, paramsObject, throwIfAborted } from './common.js';
import type { FaultDriver } from './types.js';

/** Parameters of container-kill. */
export interface ContainerKillParams {
  /** Default SIGKILL. */
  signal: string;
}

/** Validates container-kill params. */
export function parseContainerKillParams(params: unknown): ContainerKillParams {
  const raw = paramsObject(params, 'container-kill');
  const signal = raw.signal ?? 'SIGKILL';
  if (typeof signal !== 'string' || !/^SIG[A-Z0-9]+$/.test(signal)) {
    throw new AgentError('invalid_request', `invalid signal ${JSON.stringify(signal)}: write a signal name such as SIGKILL or SIGTERM`);
  }
  return { signal };
}

/** Sends a signal to the container's main process. Instant: there is nothing to revert. */
export const containerKillDriver: FaultDriver = {
  type: 'container-kill',
  kind: 'instant',
  async inject(ctx, order, signal) {
    const params = parseContainerKillParams(order.params);
    const target = await inspectTarget(ctx, order.target);
    if (!target.running) throw new AgentError('conflict', `container ${target.name} is not running (${target.status}): nothing to kill`);
    throwIfAborted(signal, `container-kill of ${target.name}`);
    await ctx.docker.kill(target.id, params.signal);
    ctx.log.info({ fault: order.faultId, container: target.name, signal: params.signal }, 'container signalled');
    return {
      revert: async () => undefined,
      details: { signal: params.signal, containerId: target.id, containerName: target.name, pid: target.pid },
    };
  },
  async recover(ctx, entry) {
    // Nothing was left behind; just forget the entry.
    await ctx.ledger.remove(entry.faultId);
  },
};
