import type { Logger } from 'pino';
import {
  ErrorCode,
  FAULT_TYPES,
  FaultlineError,
  FaultTypeSchema,
  toWireError,
  type ActiveFault,
  type Capabilities,
  type FaultType,
  type WireError,
} from '@faultline/shared';
import { ControllerConnection, type BackoffOptions, type ConnectionState } from './connection.js';
import { FaultManager, type RevertAllOutcome } from './fault-manager.js';
import { buildRegistry, detectCapabilities, FAULT_DRIVERS, type AgentCapabilities } from './faults/registry.js';
import type { FaultContext, FaultDriver } from './faults/types.js';
import { DockerHost } from './host/docker.js';
import { Ledger } from './ledger.js';
import { AGENT_VERSION } from './version.js';

export { agentSocketUrl, Backoff } from './connection.js';
export { toDriverParams } from './fault-manager.js';
export { AGENT_VERSION } from './version.js';

/** Where the agent stands. `connecting` also covers waiting to reconnect. */
export type AgentState = 'idle' | 'recovering' | 'connecting' | 'connected' | 'closing' | 'closed';

/** Options of {@link createAgent}. */
export interface AgentOptions {
  /** The controller's base URL, e.g. `http://127.0.0.1:7070` (https for TLS). */
  controllerUrl: string;
  /** The agent token the controller expects. */
  token: string;
  /** This agent's name as the controller lists it. */
  name: string;
  /** Labels experiments select agents by. Default none. */
  labels?: Record<string, string>;
  /** Docker endpoint as in DOCKER_HOST. Default the local socket. Ignored when `docker` is given. */
  dockerHost?: string;
  /** Directory of the fault ledger (created if missing). */
  stateDir: string;
  /** Controller silence after which every fault is reverted. Default 15 000 ms. */
  leaseTimeoutMs?: number;
  /** The root logger; the agent logs through children with `{component}`. */
  logger: Logger;
  /** Fault drivers. Default {@link FAULT_DRIVERS}. */
  drivers?: readonly FaultDriver[];
  /** A ready Docker adapter (tests pass a fake). Default a {@link DockerHost} for `dockerHost`. */
  docker?: DockerHost;
  /** Capability detection. Default {@link detectCapabilities} over the drivers. */
  detectCapabilities?: () => Promise<AgentCapabilities>;
  /** Hard deadline of {@link Agent.close} for reverting every fault. Default 10 000 ms. */
  closeTimeoutMs?: number;
  /** Reconnection delays. Default 250 ms doubling to 10 s, full jitter; at least 5 s after a refused token. */
  reconnect?: BackoffOptions;
  /** First retry delay after a failed revert (doubling up to 60 s). Default 5000 ms. */
  revertRetryMs?: number;
  /** PEM certificate(s) to trust for a `https://` controller instead of the system's CAs. Default the system's. */
  ca?: string | Buffer;
}

/** A leftover fault that could not be reverted at start-up. */
export interface RecoveryFailure {
  faultId: string;
  type: string;
  containerName: string;
  error: WireError;
}

/** What {@link Agent.start} did before connecting. */
export interface StartReport {
  /** Leftover faults from an earlier run of the agent, reverted. */
  recovered: string[];
  /** Leftover faults that could not be reverted (they stay in the ledger for the next start). */
  failed: RecoveryFailure[];
  /** Ledger files that could not be read (left in place). */
  corrupt: string[];
  capabilities: Capabilities;
}

/** What {@link Agent.close} did. */
export interface CloseReport extends RevertAllOutcome {
  /** True when the hard deadline passed before every revert finished. */
  timedOut: boolean;
}

/** A Faultline agent: built by {@link createAgent}, run by {@link Agent.start}, stopped by {@link Agent.close}. */
export interface Agent {
  readonly name: string;
  readonly state: AgentState;
  /** Faults being injected or in place. */
  activeFaults(): ActiveFault[];
  /** What the agent advertises; undefined before {@link start} detected it. */
  capabilities(): Capabilities | undefined;
  /**
   * Reverts whatever the ledger still holds (SAFETY 7.3), detects capabilities, then starts
   * connecting (and reconnecting) to the controller. Resolves once connecting has begun, not once
   * connected. Rejects when the state directory is unusable. Calling it again returns the same promise.
   */
  start(): Promise<StartReport>;
  /**
   * Stops reconnecting, reverts every fault (cause `shutdown`), tells the controller and closes the
   * socket, all within the close timeout. Idempotent: every call returns the same promise.
   */
  close(): Promise<CloseReport>;
}

const DEFAULT_LEASE_TIMEOUT_MS = 15_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

function isFaultType(type: string): type is FaultType {
  return FaultTypeSchema.safeParse(type).success;
}

/** Builds an agent. Reads no environment, installs no signal handler, opens nothing until `start()`. */
export function createAgent(options: AgentOptions): Agent {
  const log = options.logger.child({ component: 'agent' });
  const leaseTimeoutMs = options.leaseTimeoutMs ?? DEFAULT_LEASE_TIMEOUT_MS;
  const closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  const driverList = options.drivers ?? FAULT_DRIVERS;
  const registry = buildRegistry(driverList);
  const foreign = [...registry.keys()].filter((type) => !isFaultType(type));
  if (foreign.length > 0) throw new Error(`fault drivers for types the protocol does not know: ${foreign.join(', ')}`);
  const docker = options.docker ?? new DockerHost(options.dockerHost === undefined ? {} : { dockerHost: options.dockerHost });
  const ledger = new Ledger(options.stateDir, {
    onCorrupt: (problem) => log.error({ file: problem.file, error: problem.error }, 'unreadable ledger file left in place: check it by hand'),
  });
  const context: FaultContext = {
    docker,
    ledger,
    log: options.logger.child({ component: 'faults' }),
    capabilities: { latencyMechanisms: [] },
  };
  const detect = options.detectCapabilities ?? (() => detectCapabilities({ drivers: driverList }));

  let state: AgentState = 'idle';
  let capabilities: Capabilities | undefined;
  let starting: Promise<StartReport> | undefined;
  let closing: Promise<CloseReport> | undefined;

  const setState = (next: AgentState): void => {
    if (state === next) return;
    log.debug({ from: state, to: next }, 'agent state');
    state = next;
  };

  const manager = new FaultManager({
    drivers: registry,
    context,
    log: options.logger.child({ component: 'fault-manager' }),
    ...(options.revertRetryMs === undefined ? {} : { retryMs: options.revertRetryMs }),
    onReverted: (notice) => {
      const message = { type: 'reverted', faultId: notice.faultId, revertedAt: notice.revertedAt, cause: notice.cause } as const;
      connection.notify(notice.error ? { ...message, error: notice.error } : message);
    },
  });

  const connection = new ControllerConnection({
    controllerUrl: options.controllerUrl,
    token: options.token,
    log: options.logger.child({ component: 'connection' }),
    handler: manager,
    leaseTimeoutMs,
    ...(options.reconnect === undefined ? {} : { backoff: options.reconnect }),
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    hello: () => ({
      name: options.name,
      labels: options.labels ?? {},
      version: AGENT_VERSION,
      capabilities: capabilities ?? { faults: [], latencyMechanisms: [] },
      leaseTimeoutMs,
      activeFaults: manager.active(),
    }),
    onLeaseExpired: async () => {
      const active = manager.active();
      if (active.length === 0) return;
      const outcome = await manager.revertAll('lease');
      if (outcome.failed.length > 0) {
        log.error({ failed: outcome.failed }, 'some faults could not be reverted after the lease expired');
      } else {
        log.warn({ reverted: outcome.reverted }, `lease expired: reverted ${outcome.reverted.length} faults`);
      }
    },
    onStateChange: (connectionState: ConnectionState) => {
      if (state === 'closing' || state === 'closed') return;
      if (connectionState === 'ready') setState('connected');
      else if (connectionState === 'connecting' || connectionState === 'waiting' || connectionState === 'handshake') setState('connecting');
    },
  });

  async function recoverLeftovers(): Promise<Pick<StartReport, 'recovered' | 'failed' | 'corrupt'>> {
    await ledger.init();
    const { entries, corrupt } = await ledger.scan();
    for (const problem of corrupt) {
      log.error({ file: problem.file, error: problem.error }, 'unreadable ledger file left in place: check it, revert by hand if needed, then delete it');
    }
    const report: Pick<StartReport, 'recovered' | 'failed' | 'corrupt'> = { recovered: [], failed: [], corrupt: corrupt.map((c) => c.file) };
    if (entries.length === 0) return report;
    log.warn({ count: entries.length }, 'the ledger holds faults from an earlier run of the agent: reverting them before connecting');
    for (const entry of entries.sort((a, b) => a.recordedAt - b.recordedAt)) {
      const entryLog = log.child({ fault: entry.faultId, runId: entry.runId, type: entry.type, container: entry.containerName });
      const driver = registry.get(entry.type);
      try {
        if (!driver) throw new FaultlineError(ErrorCode.Unsupported, `no driver for fault type ${entry.type} in this agent version`);
        entryLog.info({ recordedAt: new Date(entry.recordedAt).toISOString(), state: entry.state }, 'reverting leftover fault');
        await driver.recover(context, entry);
        // Drivers remove the entry themselves; make sure it is gone so it is not reverted twice.
        await ledger.remove(entry.faultId);
        report.recovered.push(entry.faultId);
        entryLog.info('leftover fault reverted');
        connection.notify({ type: 'reverted', faultId: entry.faultId, revertedAt: Date.now(), cause: 'startup' });
      } catch (error) {
        const wire = toWireError(error);
        report.failed.push({ faultId: entry.faultId, type: entry.type, containerName: entry.containerName, error: wire });
        entryLog.error({ err: error }, 'could not revert a leftover fault: it stays in the ledger and is retried at the next start; check the container by hand');
        connection.notify({ type: 'reverted', faultId: entry.faultId, revertedAt: Date.now(), cause: 'startup', error: wire });
      }
    }
    return report;
  }

  async function advertisedCapabilities(): Promise<Capabilities> {
    let detected: AgentCapabilities;
    try {
      detected = await detect();
    } catch (error) {
      log.error({ err: error }, 'capability detection failed: advertising the faults that need no detection');
      detected = { faults: driverList.filter((d) => d.type !== 'network-latency').map((d) => d.type), latencyMechanisms: [], notes: [] };
    }
    context.capabilities.latencyMechanisms = [...detected.latencyMechanisms];
    const faults = detected.faults.filter(isFaultType);
    const missing = FAULT_TYPES.filter((type) => !faults.includes(type));
    log.info({ faults, latencyMechanisms: detected.latencyMechanisms, notes: detected.notes, unavailable: missing }, 'capabilities detected');
    return { faults, latencyMechanisms: [...detected.latencyMechanisms] };
  }

  async function start(): Promise<StartReport> {
    setState('recovering');
    log.info({ name: options.name, version: AGENT_VERSION, stateDir: options.stateDir, leaseTimeoutMs }, 'agent starting');
    const recovery = await recoverLeftovers();
    capabilities = await advertisedCapabilities();
    docker.ping().catch((error: unknown) => log.warn({ err: error }, 'the Docker engine does not answer: faults will fail until it does'));
    if (state === 'closing' || state === 'closed') return { ...recovery, capabilities };
    setState('connecting');
    log.info({ url: connection.url }, 'connecting to the controller');
    connection.start();
    return { ...recovery, capabilities };
  }

  async function close(): Promise<CloseReport> {
    const wasStarting = starting;
    setState('closing');
    connection.stopReconnecting();
    log.info({ activeFaults: manager.active().length }, 'agent closing: reverting every fault');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), closeTimeoutMs);
    });
    const work = (async () => {
      // Faults cannot arrive before start() connects, but a recovery in progress must finish first.
      if (wasStarting) await wasStarting.catch(() => undefined);
      return manager.shutdown();
    })();
    const result = await Promise.race([work, deadline]);
    clearTimeout(timer);
    let report: CloseReport;
    if (result === 'timeout') {
      const left = manager.active();
      log.error(
        { closeTimeoutMs, faults: left.map((f) => f.faultId) },
        'close deadline passed before every fault was reverted: the ledger keeps them and the next start reverts them',
      );
      report = {
        reverted: [],
        failed: left.map((f) => ({ faultId: f.faultId, error: toWireError(new FaultlineError(ErrorCode.Timeout, 'revert did not finish before the close deadline')) })),
        timedOut: true,
      };
    } else {
      report = { ...result, timedOut: false };
      if (result.failed.length > 0) log.error({ failed: result.failed }, 'some faults could not be reverted at shutdown; the ledger keeps them');
    }
    manager.dispose();
    await connection.stop().catch((error: unknown) => log.warn({ err: error }, 'closing the controller connection failed'));
    setState('closed');
    log.info({ reverted: report.reverted.length, failed: report.failed.length }, 'agent closed');
    return report;
  }

  return {
    name: options.name,
    get state() {
      return state;
    },
    activeFaults: () => manager.active(),
    capabilities: () => capabilities,
    start() {
      if (closing) return Promise.reject(new Error('the agent is closed'));
      starting ??= start().catch((error: unknown) => {
        log.error({ err: error }, 'agent start failed');
        throw error;
      });
      return starting;
    },
    close() {
      closing ??= close();
      return closing;
    },
  };
}
