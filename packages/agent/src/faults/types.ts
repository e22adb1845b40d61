import type { Logger } from 'pino';
import type { DockerHost } from '../host/docker.js';
import type { Ledger, LedgerEntry } from '../ledger.js';

/** A way to add latency: a netem qdisc (kernel) or the transparent delaying proxy. */
export type LatencyMechanism = 'netem' | 'proxy';

/** What a fault driver may use. */
export interface FaultContext {
  docker: DockerHost;
  ledger: Ledger;
  log: Logger;
  capabilities: { latencyMechanisms: LatencyMechanism[] };
  /** Path of the compiled latency-proxy-main.js; default the one next to the agent's modules. */
  latencyProxyScript?: string;
}

/** The container a fault applies to. */
export interface FaultTarget {
  containerId: string;
  containerName: string;
}

/** One fault to inject, as the controller ordered it (params already validated, durations in ms). */
export interface FaultOrder {
  faultId: string;
  runId: string;
  type: string;
  params: unknown;
  target: FaultTarget;
  /** How long a sustained fault holds; null for instant faults (or none given). */
  durationMs: number | null;
}

/** Undoes a fault. Idempotent; resolves only once the host is verified clean. */
export type Revert = () => Promise<void>;

/** What inject reports. */
export interface InjectResult {
  revert: Revert;
  /** Facts for the run journal (mechanism, ports, ...). */
  details: Record<string, unknown>;
}

/** One fault type's implementation. */
export interface FaultDriver {
  type: string;
  kind: 'sustained' | 'instant';
  /**
   * Applies the fault. Records it in the ledger before touching anything; on a partial failure undoes
   * what it did and rethrows. `signal` aborts an injection in progress (it is then undone).
   */
  inject(ctx: FaultContext, order: FaultOrder, signal: AbortSignal): Promise<InjectResult>;
  /** Reverts a fault from its ledger entry (after an agent crash), then removes the entry. */
  recover(ctx: FaultContext, entry: LedgerEntry): Promise<void>;
}

export type { LedgerEntry } from '../ledger.js';
