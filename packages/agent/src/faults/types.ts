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

/**
 * What the fault manager does when the target of a sustained fault restarts while the fault is in
 * place (Docker `start` event, new init pid, so a new network namespace that holds none of the fault).
 *
 * - `reapply`: the manager runs the fault's current {@link Revert} (it must succeed although the old
 *   namespace is gone or empty: it is idempotent and only removes what exists), then calls
 *   {@link FaultDriver.inject} again with the same `faultId`, `runId`, params and target, and
 *   `durationMs` = the time left until the original deadline. The driver records the fault in the
 *   ledger again (the old entry is removed by the revert, or else by the manager once the revert
 *   succeeded; same faultId, new pid), exactly as on a first inject. The result's revert replaces
 *   the old one; the deadline does not move. A revert that arrives meanwhile aborts the injection's
 *   `signal` and waits for it. A failed re-injection is undone by the driver as usual, logged, and
 *   tried again at the next restart; the fault stays held until its deadline.
 * - `ignore`: nothing happens (container faults: a restart is not something they leave behind).
 *
 * Independently of this, when the target container is removed (Docker `destroy` event) the manager
 * reverts the fault with cause `target-removed` and tells the controller; so a driver's revert must
 * also succeed when the container no longer exists (clean up what lives outside it, e.g. a proxy
 * process, and report nothing left to do).
 */
export type TargetRestartPolicy = 'reapply' | 'ignore';

/** The restart policy of a driver: its own, else `reapply` for network faults and `ignore` otherwise. */
export function targetRestartPolicy(driver: Pick<FaultDriver, 'type' | 'kind' | 'onTargetRestart'>): TargetRestartPolicy {
  if (driver.kind !== 'sustained') return 'ignore';
  return driver.onTargetRestart ?? (driver.type.startsWith('network-') ? 'reapply' : 'ignore');
}

/** One fault type's implementation. */
export interface FaultDriver {
  type: string;
  kind: 'sustained' | 'instant';
  /**
   * What to do when the target restarts during a sustained fault; see {@link TargetRestartPolicy}.
   * Default `reapply` for `network-*` types, `ignore` for the others.
   */
  onTargetRestart?: TargetRestartPolicy;
  /**
   * Applies the fault. Records it in the ledger before touching anything; on a partial failure undoes
   * what it did and rethrows. `signal` aborts an injection in progress (it is then undone).
   */
  inject(ctx: FaultContext, order: FaultOrder, signal: AbortSignal): Promise<InjectResult>;
  /** Reverts a fault from its ledger entry (after an agent crash), then removes the entry. */
  recover(ctx: FaultContext, entry: LedgerEntry): Promise<void>;
}

export type { LedgerEntry } from '../ledger.js';
