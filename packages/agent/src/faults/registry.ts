import { run } from '../host/exec.js';
import { defaultProxyScript } from '../host/latency-proxy.js';
import { detectNetem } from '../host/tc.js';
import { containerKillDriver } from './container-kill.js';
import { containerPauseDriver } from './container-pause.js';
import { containerRestartDriver } from './container-restart.js';
import { containerStopDriver } from './container-stop.js';
import { networkBandwidthDriver } from './network-bandwidth.js';
import { networkBlackholeDriver } from './network-blackhole.js';
import { networkLatencyDriver } from './network-latency.js';
import { networkLossDriver } from './network-loss.js';
import type { FaultDriver, LatencyMechanism } from './types.js';

/** Every fault driver this agent has. */
export const FAULT_DRIVERS: readonly FaultDriver[] = [containerKillDriver, networkLatencyDriver, containerPauseDriver, containerStopDriver, containerRestartDriver, networkLossDriver, networkBlackholeDriver, networkBandwidthDriver];

/** Options of {@link buildRegistry}. */
export interface RegistryOptions {
  /** Fault types that must all have a driver (e.g. every type in the shared catalogue). */
  expectedTypes?: readonly string[];
}

/** Drivers by type. Throws at start-up on a duplicate type, or a missing one when `expectedTypes` is given. */
export function buildRegistry(drivers: readonly FaultDriver[] = FAULT_DRIVERS, options: RegistryOptions = {}): ReadonlyMap<string, FaultDriver> {
  const registry = new Map<string, FaultDriver>();
  for (const driver of drivers) {
    if (registry.has(driver.type)) throw new Error(`two fault drivers declare the type ${driver.type}`);
    registry.set(driver.type, driver);
  }
  const missing = (options.expectedTypes ?? []).filter((type) => !registry.has(type));
  if (missing.length > 0) throw new Error(`no fault driver for ${missing.join(', ')}`);
  return registry;
}

/** What this host can do. */
export interface AgentCapabilities {
  /** Fault types this agent can inject here. */
  faults: string[];
  /** Latency mechanisms available, netem first. */
  latencyMechanisms: LatencyMechanism[];
  /** Why a mechanism is missing, for the agent's log and the controller's agent list. */
  notes: string[];
}

/** Options of {@link detectCapabilities}. */
export interface DetectOptions {
  drivers?: readonly FaultDriver[];
  /** Path of the compiled latency proxy; default the one next to the agent's modules. */
  latencyProxyScript?: string;
}

async function runs(cmd: string, args: string[]): Promise<string | null> {
  try {
    const result = await run(cmd, args, { timeoutMs: 5_000 });
    return result.code === 0 ? null : result.stderr.trim() || `exit code ${String(result.code)}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Detects at start-up which latency mechanisms work, without touching any real interface or rule:
 * netem and the nat table are both tried in throw-away network namespaces (`unshare -n`).
 */
export async function detectCapabilities(options: DetectOptions = {}): Promise<AgentCapabilities> {
  const notes: string[] = [];
  const latencyMechanisms: LatencyMechanism[] = [];
  const [netem, nsenter, nat] = await Promise.all([
    detectNetem(),
    runs('nsenter', ['--version']),
    runs('unshare', ['-n', 'iptables', '-w', '5', '-t', 'nat', '-S']),
  ]);
  if (netem.supported) latencyMechanisms.push('netem');
  else notes.push(`netem unavailable: ${netem.reason ?? 'unknown reason'}`);
  const script = options.latencyProxyScript ?? defaultProxyScript();
  if (nsenter !== null) notes.push(`latency proxy unavailable: nsenter does not run (${nsenter})`);
  else if (nat !== null) notes.push(`latency proxy unavailable: iptables nat does not work (${nat})`);
  else if (!script) notes.push('latency proxy unavailable: latency-proxy-main.js not found (build the agent)');
  else latencyMechanisms.push('proxy');

  const faults = (options.drivers ?? FAULT_DRIVERS)
    .filter((driver) => driver.type !== 'network-latency' || latencyMechanisms.length > 0)
    .map((driver) => driver.type);
  return { faults, latencyMechanisms, notes };
}
