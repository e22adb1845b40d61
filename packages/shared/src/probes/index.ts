import type { Probe } from '../manifest/probes.js';
import type { ProbeOutcome } from './common.js';
import { runHttpProbe } from './http.js';
import { runPrometheusProbe } from './prometheus.js';
import { runTcpProbe } from './tcp.js';

export * from './common.js';
export { probeHttpRequest, runHttpProbe, statusMatches } from './http.js';
export { runPrometheusProbe } from './prometheus.js';
export { runTcpProbe } from './tcp.js';

/** Probe types that may run on an agent's host (`from: {agents: ...}`); exec runs only on the controller. */
export const NETWORK_PROBE_TYPES = ['http', 'tcp', 'prometheus'] as const;
/** A probe that needs only the network: http, tcp or prometheus. */
export type NetworkProbe = Extract<Probe, { type: (typeof NETWORK_PROBE_TYPES)[number] }>;

/** True for probes that can run on an agent. */
export function isNetworkProbe(probe: Probe): probe is NetworkProbe {
  return (NETWORK_PROBE_TYPES as readonly string[]).includes(probe.type);
}

/** Runs one attempt of an http, tcp or prometheus probe where this code runs. Never throws. */
export async function runNetworkProbe(probe: NetworkProbe, signal?: AbortSignal): Promise<ProbeOutcome> {
  try {
    switch (probe.type) {
      case 'http':
        return await runHttpProbe(probe, signal);
      case 'tcp':
        return await runTcpProbe(probe, signal);
      case 'prometheus':
        return await runPrometheusProbe(probe, signal);
      default: {
        const unreachable: never = probe;
        return unreachable;
      }
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, output: `probe error: ${message}`, error: message };
  }
}
