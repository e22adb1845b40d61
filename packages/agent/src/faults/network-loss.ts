import { AgentError } from '../host/errors.js';
import { lossChainSpec, lossProbability } from '../host/packet-filter.js';
import { paramsObject, throwIfAborted } from './common.js';
import { injectFilterFault, parsePorts, revertFilterEntry } from './filter-chains.js';
import type { FaultDriver } from './types.js';

/** Parameters of network-loss. */
export interface NetworkLossParams {
  /** Share of packets dropped, greater than 0 and at most 100. */
  percent: number;
  /**
   * Only packets of TCP connections to these ports (the container's service on the port, or its own
   * connections to the port elsewhere); default every arriving packet.
   */
  ports?: number[];
}

/** Validates network-loss params (`{percent, ports?}`). */
export function parseNetworkLossParams(params: unknown): NetworkLossParams {
  const raw = paramsObject(params, 'network-loss');
  const percent = raw.percent;
  if (typeof percent !== 'number' || !Number.isFinite(percent) || percent <= 0 || percent > 100) {
    throw new AgentError('invalid_request', `invalid percent ${JSON.stringify(percent)} for network-loss: give a number greater than 0 and at most 100`);
  }
  const ports = parsePorts(raw.ports, 'network-loss');
  return ports === undefined ? { percent } : { percent, ports };
}

/**
 * Drops a share of the packets that arrive at the container (ingress only), with an iptables
 * `statistic` match in the agent-owned chain `FL-<hex>` of the filter table, hooked into `INPUT`
 * (never for the loopback interface). With `ports`, only packets of TCP connections to those ports
 * (conntrack's original destination port: a port that the latency proxy redirects still matches).
 *
 * Ingress only, so that `percent` is what a peer sees per packet it sends: a client's connection
 * attempt fails with probability percent/100 (its SYN is dropped), not 1-(1-p)^2. iptables rather
 * than netem loss on every kernel: it can be limited to ports, and it leaves the root qdisc free for
 * network-latency (netem) and network-bandwidth (tbf) on the same container.
 */
export const networkLossDriver: FaultDriver = {
  type: 'network-loss',
  kind: 'sustained',
  async inject(ctx, order, signal) {
    const params = parseNetworkLossParams(order.params);
    throwIfAborted(signal, `network-loss on ${order.target.containerName}`);
    const spec = lossChainSpec(order.faultId, params.percent, params.ports);
    return injectFilterFault(
      ctx,
      order,
      {
        params: { ...params },
        specs: [spec],
        details: { percent: params.percent, probability: Number(lossProbability(params.percent)), direction: 'ingress', ports: params.ports ?? 'all', chain: spec.chain },
      },
      signal,
    );
  },
  recover(ctx, entry) {
    return revertFilterEntry(ctx, entry);
  },
};
