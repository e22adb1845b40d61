import { AgentError } from '../host/errors.js';
import { chainNameForFault, createRedirectChain, faultComment, removeChain } from '../host/iptables.js';
import { findProxies, startProxy, stopProxy } from '../host/latency-proxy.js';
import { applyNetemDelay, qdiscHandleForFault, removeOwnedQdisc } from '../host/tc.js';
import type { LedgerEntry } from '../ledger.js';
import { cleanupPid, ErrorList, idempotentRevert, inspectNetworkTarget, paramsObject, recordFault, throwIfAborted, toMs, undoPartlyApplied } from './common.js';
import type { FaultContext, FaultDriver, FaultOrder, InjectResult, LatencyMechanism } from './types.js';

/** Parameters of network-latency, durations in milliseconds. */
export interface NetworkLatencyParams {
  latencyMs: number;
  jitterMs: number;
  /** TCP ports whose responses are delayed; default the container's exposed TCP ports (proxy). */
  ports?: number[];
  mechanism: 'auto' | LatencyMechanism;
}

/** The interface netem is attached to. */
export const NETEM_DEVICE = 'eth0';

/**
 * Validates network-latency params. Accepts `latencyMs`/`jitterMs` in milliseconds, or the manifest's
 * `latency`/`jitter` as milliseconds or duration strings.
 */
export function parseNetworkLatencyParams(params: unknown): NetworkLatencyParams {
  const raw = paramsObject(params, 'network-latency');
  const latencyMs = toMs(raw.latencyMs ?? raw.latency, 'latency');
  const jitterMs = toMs(raw.jitterMs ?? raw.jitter ?? 0, 'jitter');
  if (latencyMs <= 0) throw new AgentError('invalid_request', 'latency must be greater than 0');
  const mechanism = raw.mechanism ?? 'auto';
  if (mechanism !== 'auto' && mechanism !== 'netem' && mechanism !== 'proxy') {
    throw new AgentError('invalid_request', `invalid mechanism ${JSON.stringify(mechanism)}: use auto, netem or proxy`);
  }
  const result: NetworkLatencyParams = { latencyMs, jitterMs, mechanism };
  if (raw.ports !== undefined) {
    if (!Array.isArray(raw.ports) || raw.ports.length === 0 || !raw.ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)) {
      throw new AgentError('invalid_request', `invalid ports ${JSON.stringify(raw.ports)}: give a non-empty list of TCP ports 1-65535`);
    }
    result.ports = [...new Set(raw.ports as number[])];
  }
  return result;
}

/** The mechanism to use: `auto` is netem when this agent has it (and no ports are given), else the proxy. */
export function chooseMechanism(
  requested: NetworkLatencyParams['mechanism'],
  available: readonly LatencyMechanism[],
  withPorts = false,
): LatencyMechanism {
  if (requested === 'auto') {
    // netem cannot yet limit itself to ports; the proxy can.
    if (withPorts && available.includes('proxy')) return 'proxy';
    if (available.includes('netem')) return 'netem';
    if (available.includes('proxy')) return 'proxy';
    throw new AgentError('unsupported', 'this agent can add latency neither with netem (kernel module sch_netem missing) nor with the proxy (iptables or nsenter missing)');
  }
  if (!available.includes(requested)) {
    throw new AgentError(
      'unsupported',
      requested === 'netem'
        ? 'this agent cannot use netem (the kernel has no sch_netem): use mechanism proxy or auto'
        : 'this agent cannot use the latency proxy (iptables, nsenter or the proxy program is missing): use mechanism netem or auto',
    );
  }
  return requested;
}

async function revertEntry(ctx: FaultContext, entry: LedgerEntry): Promise<void> {
  const log = ctx.log.child({ fault: entry.faultId, container: entry.containerName });
  const errors = new ErrorList();
  const pid = await cleanupPid(ctx, entry);
  if (entry.mechanism === 'netem') {
    const { dev, qdiscHandle } = entry.artifacts;
    if (pid !== null && dev && qdiscHandle) await errors.step(() => removeOwnedQdisc(pid, dev, qdiscHandle));
  } else {
    const chain = entry.artifacts.chain;
    // The chain first: new connections go straight to the service before the proxy stops.
    if (pid !== null && chain) await errors.step(() => removeChain(pid, chain));
    // One scan finds every proxy of this fault (also one whose pid the ledger missed); stopProxy
    // returns only once each is gone, so the scan is not repeated.
    const pids = new Set<number>((await findProxies(entry.faultId)).map((p) => p.pid));
    if (entry.artifacts.proxyPid !== undefined) pids.add(entry.artifacts.proxyPid);
    for (const proxyPid of pids) await errors.step(() => stopProxy(proxyPid, entry.faultId));
  }
  errors.throwIfAny(`reverting network-latency ${entry.faultId} on ${entry.containerName}`);
  await ctx.ledger.remove(entry.faultId);
  log.info({ mechanism: entry.mechanism }, 'network latency reverted');
}

async function injectProxy(ctx: FaultContext, order: FaultOrder, params: NetworkLatencyParams, signal: AbortSignal): Promise<InjectResult> {
  const target = await inspectNetworkTarget(ctx, order.target);
  const ports = params.ports ?? target.exposedTcpPorts;
  if (ports.length === 0) {
    throw new AgentError('invalid_request', `container ${target.name} exposes no TCP port: give params.ports for the latency proxy`);
  }
  const chain = chainNameForFault(order.faultId);
  let entry = await recordFault(ctx, order, target, { params, mechanism: 'proxy', artifacts: { chain, ports } });
  const deadline = entry.deadline;
  try {
    throwIfAborted(signal, `network-latency on ${target.name}`);
    const proxy = await startProxy({
      pid: target.pid,
      faultId: order.faultId,
      map: ports,
      latencyMs: params.latencyMs,
      jitterMs: params.jitterMs,
      deadline,
      chain,
      ...(ctx.latencyProxyScript === undefined ? {} : { script: ctx.latencyProxyScript }),
    });
    const listenPorts = ports.map((port) => proxy.ports.find((p) => p.targetPort === port)?.listenPort ?? 0);
    entry = await ctx.ledger.update(order.faultId, { artifacts: { proxyPid: proxy.proxyPid, listenPorts } });
    if (listenPorts.some((p) => p === 0)) throw new AgentError('fault_failed', `the latency proxy did not report a listen port for every port of ${ports.join(', ')}`);
    throwIfAborted(signal, `network-latency on ${target.name}`);
    await createRedirectChain(
      target.pid,
      chain,
      ports.map((port, i) => ({ port, toPort: listenPorts[i]! })),
      faultComment(order.faultId),
    );
    entry = await ctx.ledger.update(order.faultId, { state: 'active' });
    ctx.log.info({ fault: order.faultId, container: target.name, ports, listenPorts, proxyPid: proxy.proxyPid, chain }, 'network latency applied (proxy)');
    return {
      revert: idempotentRevert(() => revertEntry(ctx, entry)),
      details: { mechanism: 'proxy', latencyMs: params.latencyMs, jitterMs: params.jitterMs, ports, listenPorts, proxyPid: proxy.proxyPid, chain },
    };
  } catch (error) {
    await undo(ctx, entry, error);
    throw error;
  }
}

async function injectNetem(ctx: FaultContext, order: FaultOrder, params: NetworkLatencyParams, signal: AbortSignal): Promise<InjectResult> {
  if (params.ports !== undefined) {
    throw new AgentError('unsupported', 'network-latency with ports is not supported by the netem mechanism yet: use mechanism proxy, or leave out ports');
  }
  const target = await inspectNetworkTarget(ctx, order.target);
  const handle = qdiscHandleForFault(order.faultId);
  const entry = await recordFault(ctx, order, target, { params, mechanism: 'netem', artifacts: { dev: NETEM_DEVICE, qdiscHandle: handle } });
  try {
    throwIfAborted(signal, `network-latency on ${target.name}`);
    await applyNetemDelay(target.pid, NETEM_DEVICE, handle, params);
    const active = await ctx.ledger.update(order.faultId, { state: 'active' });
    ctx.log.info({ fault: order.faultId, container: target.name, handle }, 'network latency applied (netem)');
    return {
      revert: idempotentRevert(() => revertEntry(ctx, active)),
      details: { mechanism: 'netem', latencyMs: params.latencyMs, jitterMs: params.jitterMs, dev: NETEM_DEVICE, qdiscHandle: handle },
    };
  } catch (error) {
    await undo(ctx, entry, error);
    throw error;
  }
}

/** Undoes a partly applied fault; if that fails too, the ledger keeps the entry for recovery. */
async function undo(ctx: FaultContext, entry: LedgerEntry, cause: unknown): Promise<void> {
  await undoPartlyApplied(
    ctx,
    entry,
    // The ledger may know more than the caller (e.g. the proxy pid written just before a failure).
    async () => revertEntry(ctx, (await ctx.ledger.get(entry.faultId).catch(() => undefined)) ?? entry),
    cause,
  );
}

/** Adds latency to a container's TCP responses, with netem or the transparent delaying proxy. */
export const networkLatencyDriver: FaultDriver = {
  type: 'network-latency',
  kind: 'sustained',
  async inject(ctx, order, signal) {
    const params = parseNetworkLatencyParams(order.params);
    const mechanism = chooseMechanism(params.mechanism, ctx.capabilities.latencyMechanisms, params.ports !== undefined);
    throwIfAborted(signal, `network-latency on ${order.target.containerName}`);
    return mechanism === 'netem' ? injectNetem(ctx, order, params, signal) : injectProxy(ctx, order, params, signal);
  },
  recover(ctx, entry) {
    return revertEntry(ctx, entry);
  },
};
