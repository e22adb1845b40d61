import { blackholeChainSpecs, normaliseCidr } from '../host/packet-filter.js';
import { AgentError } from '../host/errors.js';
import { paramsObject, throwIfAborted } from './common.js';
import { injectFilterFault, parsePorts, revertFilterEntry } from './filter-chains.js';
import type { FaultDriver } from './types.js';

/** Parameters of network-blackhole; absent lists mean "all". */
export interface NetworkBlackholeParams {
  /** TCP ports: packets from or to one of them, on either side. */
  ports?: number[];
  /** IPv4 addresses or networks of the peers cut off, normalised to `a.b.c.d/n`. */
  cidrs?: string[];
}

/** Validates network-blackhole params (`{ports?, cidrs?}`). */
export function parseNetworkBlackholeParams(params: unknown): NetworkBlackholeParams {
  const raw = paramsObject(params, 'network-blackhole');
  const result: NetworkBlackholeParams = {};
  const ports = parsePorts(raw.ports, 'network-blackhole');
  if (ports !== undefined) result.ports = ports;
  if (raw.cidrs !== undefined) {
    if (!Array.isArray(raw.cidrs) || raw.cidrs.length === 0 || !raw.cidrs.every((c) => typeof c === 'string')) {
      throw new AgentError('invalid_request', `invalid cidrs ${JSON.stringify(raw.cidrs)} for network-blackhole: give a non-empty list such as ["10.0.0.0/8"]`);
    }
    result.cidrs = [...new Set(raw.cidrs.map(normaliseCidr))];
  }
  return result;
}

/**
 * Drops matching traffic in both directions: the agent-owned chain `FL-<hex>-in` in the filter
 * table's `INPUT` (packets arriving at the container) and `FL-<hex>-out` in `OUTPUT` (packets it
 * sends), never for the loopback interface. Default: everything; `ports` limits it to TCP packets
 * with one of those ports on either end; `cidrs` to packets from/to those peers; both: both must
 * match. Connections already open stall too (their packets are dropped, not refused).
 */
export const networkBlackholeDriver: FaultDriver = {
  type: 'network-blackhole',
  kind: 'sustained',
  async inject(ctx, order, signal) {
    const params = parseNetworkBlackholeParams(order.params);
    throwIfAborted(signal, `network-blackhole on ${order.target.containerName}`);
    const specs = blackholeChainSpecs(order.faultId, params);
    return injectFilterFault(
      ctx,
      order,
      {
        params: { ...params },
        specs,
        details: { direction: 'both', ports: params.ports ?? 'all', cidrs: params.cidrs ?? 'all' },
      },
      signal,
    );
  },
  recover(ctx, entry) {
    return revertFilterEntry(ctx, entry);
  },
};
