import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import {
  ContainerKillParamsSchema,
  ContainerPauseParamsSchema,
  ContainerRestartParamsSchema,
  ContainerStopParamsSchema,
  ErrorCode,
  FAULT_CATALOGUE,
  FaultlineError,
  FaultTypeSchema,
  NetworkBandwidthParamsSchema,
  NetworkBlackholeParamsSchema,
  NetworkLatencyParamsSchema,
  NetworkLossParamsSchema,
  parseDuration,
  toWireError,
  type ActiveFault,
  type ContainerInfo,
  type ContainerSelector,
  type FaultType,
  type RevertCause,
  type WireError,
} from '@faultline/shared';
import { targetRestartPolicy, type FaultContext, type FaultDriver, type FaultOrder, type Revert } from './faults/types.js';
import type { ContainerDetails, ContainerEvent } from './host/docker.js';

/** A fault as the controller orders it (the fields of an `inject` frame). */
export interface InjectRequest {
  faultId: string;
  runId: string;
  /** A fault type of the shared catalogue. */
  type: string;
  /** The manifest's validated params, durations as strings (`{latency: '100ms'}`). */
  params: unknown;
  containerId: string;
  /** How long a sustained fault holds; null for instant faults. */
  durationMs: number | null;
}

/** A fault in place (or, for an instant fault, done). */
export interface InjectOutcome {
  faultId: string;
  containerId: string;
  containerName: string;
  /** Epoch ms. */
  appliedAt: number;
  /** Epoch ms at which the agent reverts the fault on its own; null for instant faults. */
  deadline: number | null;
  /** The driver's facts for the run journal. */
  details: Record<string, unknown>;
}

/** The result of a successful revert. */
export interface RevertOutcome {
  faultId: string;
  /** Epoch ms. */
  revertedAt: number;
  /** False when the fault was unknown, already reverted, or never applied. */
  wasActive: boolean;
}

/** The result of {@link FaultManager.revertAll}. */
export interface RevertAllOutcome {
  reverted: string[];
  failed: { faultId: string; error: WireError }[];
}

/** A revert the agent did on its own (deadline, lease, shutdown), to be told to the controller. */
export interface RevertNotice {
  faultId: string;
  runId: string;
  cause: RevertCause;
  /** Epoch ms. */
  revertedAt: number;
  /** Present when the revert failed (the fault may still be in place). */
  error?: WireError;
}

/** Options of {@link FaultManager}. */
export interface FaultManagerOptions {
  /** Drivers by fault type. */
  drivers: ReadonlyMap<string, FaultDriver>;
  /** What drivers get; its `docker` also serves container discovery. */
  context: FaultContext;
  log: Logger;
  /** Called for each revert the agent did on its own (causes `deadline`, `lease`, `shutdown`). */
  onReverted?: (notice: RevertNotice) => void;
  /** First retry delay after a failed revert; doubles up to 60 s. Default 5000. */
  retryMs?: number;
  /** How many finished faults are remembered so that a repeated inject is answered, not redone. Default 1000. */
  rememberFinished?: number;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
  /**
   * Follow Docker events while a sustained fault is held: a target that restarts gets its fault
   * applied again (drivers with restart policy `reapply`), a target that is removed gets its fault
   * reverted with cause `target-removed`. Default true.
   */
  watchTargets?: boolean;
}

/** Causes for which the controller did not ask, so it must be told. */
const AUTONOMOUS_CAUSES: ReadonlySet<RevertCause> = new Set<RevertCause>(['deadline', 'lease', 'shutdown', 'target-removed']);

/** setTimeout's limit: a longer delay fires at once, so long deadlines are re-armed in steps. */
const MAX_TIMER_MS = 2_147_483_647;
const MAX_RETRY_MS = 60_000;

interface FaultRecord {
  readonly request: InjectRequest;
  readonly type: FaultType;
  readonly driver: FaultDriver;
  readonly abort: AbortController;
  injection: Promise<InjectOutcome>;
  containerName: string;
  revertFn?: Revert;
  outcome?: InjectOutcome;
  timer?: NodeJS.Timeout;
  reverting?: Promise<RevertOutcome>;
  /** Failed revert attempts so far. */
  revertFailures: number;
  /** The order as the driver got it (set once applied), for applying it again after a restart. */
  order?: FaultOrder;
  /** Pid of the container process whose namespace holds the fault (from the ledger); 0 when nothing is applied. */
  appliedPid?: number;
  /** Checks of the target after Docker events, one after the other (never rejects). */
  following?: Promise<void>;
  /** Aborts a re-injection in progress (a revert takes over). */
  reapplyAbort?: AbortController;
  /** How many times the fault was applied again after the target restarted. */
  reapplied: number;
}

/** The part of a zod schema used here (the agent does not depend on zod itself). */
interface ParamsSchema<T> {
  safeParse(input: unknown): { success: true; data: T } | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

function paramsOf<T>(type: FaultType, schema: ParamsSchema<T>, params: unknown): T {
  const parsed = schema.safeParse(params ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({ path: ['params', ...issue.path.map(String)].join('.'), message: issue.message }));
  throw new FaultlineError(
    ErrorCode.InvalidRequest,
    `invalid params for ${type}: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`,
    { details: issues },
  );
}

/**
 * Converts the manifest's params of a fault (validated by the shared schema again, durations as
 * strings) into what the drivers take: durations in milliseconds (`latencyMs`, `jitterMs`,
 * `timeoutMs`), everything else unchanged. The one place where that conversion happens.
 * @throws FaultlineError `invalid_request` naming the bad field.
 */
export function toDriverParams(type: FaultType, params: unknown): Record<string, unknown> {
  switch (type) {
    case 'network-latency': {
      const { latency, jitter, ...rest } = paramsOf(type, NetworkLatencyParamsSchema, params);
      return { ...rest, latencyMs: parseDuration(latency), jitterMs: parseDuration(jitter) };
    }
    case 'network-loss':
      return { ...paramsOf(type, NetworkLossParamsSchema, params) };
    case 'network-blackhole':
      return { ...paramsOf(type, NetworkBlackholeParamsSchema, params) };
    case 'network-bandwidth':
      return { ...paramsOf(type, NetworkBandwidthParamsSchema, params) };
    case 'container-pause':
      return { ...paramsOf(type, ContainerPauseParamsSchema, params) };
    case 'container-stop':
      return { timeoutMs: parseDuration(paramsOf(type, ContainerStopParamsSchema, params).timeout) };
    case 'container-kill':
      return { ...paramsOf(type, ContainerKillParamsSchema, params) };
    case 'container-restart':
      return { timeoutMs: parseDuration(paramsOf(type, ContainerRestartParamsSchema, params).timeout) };
    default: {
      const unknownType: never = type;
      throw new FaultlineError(ErrorCode.Unsupported, `unknown fault type ${String(unknownType)}`);
    }
  }
}

/**
 * The faults this agent holds. It hands each order to its driver, reverts sustained faults at their
 * deadline on its own (SAFETY 7.1), and makes every operation idempotent: a repeated inject answers
 * with the earlier result, reverting an unknown fault succeeds.
 */
export class FaultManager {
  readonly #drivers: ReadonlyMap<string, FaultDriver>;
  readonly #ctx: FaultContext;
  readonly #log: Logger;
  readonly #onReverted: (notice: RevertNotice) => void;
  readonly #retryMs: number;
  readonly #rememberFinished: number;
  readonly #now: () => number;
  readonly #records = new Map<string, FaultRecord>();
  /** Finished faults (instant ones done, sustained ones reverted), oldest first. */
  readonly #finished = new Map<string, InjectOutcome>();
  readonly #watchTargets: boolean;
  /** Aborts the Docker event subscription; set while it runs. */
  #watcher: AbortController | undefined;
  #accepting = true;

  constructor(options: FaultManagerOptions) {
    this.#drivers = options.drivers;
    this.#ctx = options.context;
    this.#log = options.log;
    this.#onReverted = options.onReverted ?? (() => undefined);
    this.#retryMs = options.retryMs ?? 5000;
    this.#rememberFinished = options.rememberFinished ?? 1000;
    this.#now = options.now ?? Date.now;
    this.#watchTargets = options.watchTargets ?? true;
  }

  /** Faults being injected or in place, for the hello frame and the logs. */
  active(): ActiveFault[] {
    return [...this.#records.values()].map((record) => ({
      faultId: record.request.faultId,
      runId: record.request.runId,
      type: record.type,
      containerId: record.outcome?.containerId ?? record.request.containerId,
      containerName: record.containerName,
      appliedAt: record.outcome?.appliedAt ?? null,
      deadline: record.outcome?.deadline ?? null,
    }));
  }

  /** Running, non-protected containers that match `selector`. */
  async listContainers(selector: ContainerSelector): Promise<ContainerInfo[]> {
    const all = await this.#ctx.docker.listContainers();
    return this.#ctx.docker
      .filterCandidates(all, selector)
      .map(({ id, name, labels, image, state }) => ({ id, name, labels, image, state }));
  }

  /**
   * Applies a fault. A fault id seen before (in flight, in place, or finished) returns the earlier
   * result without touching anything; a failed inject is forgotten, so it can be retried.
   */
  inject(request: InjectRequest): Promise<InjectOutcome> {
    const existing = this.#records.get(request.faultId);
    if (existing) return existing.injection;
    const finished = this.#finished.get(request.faultId);
    if (finished) return Promise.resolve(finished);
    let record: FaultRecord;
    try {
      record = this.#newRecord(request);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.#records.set(request.faultId, record);
    record.injection = this.#inject(record);
    // The caller awaits the injection; a revert awaits it too. Neither may see an unhandled rejection.
    record.injection.catch(() => undefined);
    return record.injection;
  }

  #newRecord(request: InjectRequest): FaultRecord {
    if (!this.#accepting) {
      throw new FaultlineError(ErrorCode.AgentUnavailable, 'the agent is shutting down and accepts no new faults', { retryable: true });
    }
    const typed = FaultTypeSchema.safeParse(request.type);
    if (!typed.success) throw new FaultlineError(ErrorCode.Unsupported, `unknown fault type ${JSON.stringify(request.type)}`);
    const type = typed.data;
    const driver = this.#drivers.get(type);
    if (!driver) {
      throw new FaultlineError(ErrorCode.Unsupported, `this agent has no driver for ${type}: pick agents that advertise it in their capabilities`);
    }
    const sustained = FAULT_CATALOGUE[type].kind === 'sustained';
    if (sustained && (request.durationMs === null || !(request.durationMs > 0))) {
      throw new FaultlineError(ErrorCode.InvalidRequest, `${type} is a sustained fault: durationMs must be a positive number`);
    }
    const params = toDriverParams(type, request.params);
    return {
      request: { ...request, params, durationMs: sustained ? request.durationMs : null },
      type,
      driver,
      abort: new AbortController(),
      injection: Promise.resolve(undefined as never),
      containerName: request.containerId.slice(0, 12),
      revertFailures: 0,
      reapplied: 0,
    };
  }

  async #inject(record: FaultRecord): Promise<InjectOutcome> {
    const { request, driver } = record;
    const log = this.#log.child({ fault: request.faultId, runId: request.runId, type: record.type });
    try {
      const container = await this.#ctx.docker.tryInspect(request.containerId);
      if (!container) {
        throw new FaultlineError(ErrorCode.NotFound, `container ${request.containerId.slice(0, 12)} does not exist on this host`);
      }
      record.containerName = container.name;
      // Drivers check this too; the agent refuses protected targets whatever the controller asks (SAFETY 7.7).
      if (this.#ctx.docker.isProtected(container)) {
        throw new FaultlineError(
          ErrorCode.InvalidRequest,
          `container ${container.name} is protected (label faultline.protected=true, or Faultline's own) and is never a target`,
        );
      }
      if (record.abort.signal.aborted) throw new FaultlineError(ErrorCode.Aborted, `${record.type} on ${container.name} was reverted before it was applied`);
      const order: FaultOrder = {
        faultId: request.faultId,
        runId: request.runId,
        type: record.type,
        params: request.params,
        target: { containerId: container.id, containerName: container.name },
        durationMs: request.durationMs,
      };
      log.info({ container: container.name, params: request.params, durationMs: request.durationMs }, 'injecting fault');
      const result = await driver.inject(this.#ctx, order, record.abort.signal);
      const appliedAt = this.#now();
      const outcome: InjectOutcome = {
        faultId: request.faultId,
        containerId: container.id,
        containerName: container.name,
        appliedAt,
        deadline: request.durationMs === null ? null : appliedAt + request.durationMs,
        details: result.details,
      };
      record.revertFn = result.revert;
      record.outcome = outcome;
      if (driver.kind === 'instant' || request.durationMs === null) {
        this.#records.delete(request.faultId);
        this.#remember(outcome);
        log.info({ container: container.name }, 'instant fault done');
      } else {
        log.info({ container: container.name, deadline: new Date(outcome.deadline ?? 0).toISOString() }, 'fault applied');
        // A revert that arrived during the injection takes it from here.
        if (!record.reverting) this.#armTimer(record, outcome.deadline ?? appliedAt, 'deadline');
        record.order = order;
        // The pid the driver recorded (it inspected last); without it following restarts would stop.
        record.appliedPid = (await this.#ctx.ledger.get(request.faultId).catch(() => undefined))?.pid ?? container.pid;
        // A watcher that already runs missed nothing since; a new one looks at every fault once subscribed.
        if (this.#watcher) this.#followTarget(record);
        else this.#syncWatcher();
      }
      return outcome;
    } catch (error) {
      if (this.#records.get(request.faultId) === record && !record.reverting) this.#records.delete(request.faultId);
      this.#syncWatcher();
      log.warn({ err: error, container: record.containerName }, 'fault injection failed');
      await this.#cleanUpFailedInjection(record, log);
      throw error;
    }
  }

  /** A driver undoes a partial injection itself; if its ledger entry is still there, try once more. */
  async #cleanUpFailedInjection(record: FaultRecord, log: Logger): Promise<void> {
    let entry;
    try {
      entry = await this.#ctx.ledger.get(record.request.faultId);
    } catch (error) {
      log.error({ err: error }, 'could not read the ledger after a failed injection');
      return;
    }
    if (!entry) return;
    try {
      await record.driver.recover(this.#ctx, entry);
      await this.#ctx.ledger.remove(record.request.faultId);
      log.info('cleaned up what the failed injection left behind');
    } catch (error) {
      log.error({ err: error }, 'could not clean up after a failed injection; the ledger keeps the fault and the next start reverts it');
    }
  }

  /** Reverts the fault with `cause` at epoch ms `at`, unless something reverts it first. */
  #armTimer(record: FaultRecord, at: number, cause: RevertCause): void {
    clearTimeout(record.timer);
    const delay = Math.max(0, at - this.#now());
    record.timer = setTimeout(
      () => {
        record.timer = undefined;
        if (this.#now() < at) this.#armTimer(record, at, cause);
        else this.#onTimer(record, cause);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  #onTimer(record: FaultRecord, cause: RevertCause): void {
    if (this.#records.get(record.request.faultId) !== record || record.reverting) return;
    const what = cause === 'deadline' && record.revertFailures === 0 ? 'fault deadline reached' : `retrying a failed revert (${cause})`;
    this.#log.info({ fault: record.request.faultId, container: record.containerName, cause }, `${what}: reverting it without waiting for the controller`);
    // A failure is logged, reported and retried by #revert.
    this.revert(record.request.faultId, cause).catch(() => undefined);
  }

  /**
   * After a failed revert the fault is still held: try again later on the agent's own. A revert the
   * agent started itself is retried with backoff; one the controller asked for falls back to the
   * fault's deadline (or the backoff, if that has passed).
   */
  #scheduleRetry(record: FaultRecord, cause: RevertCause): void {
    if (!this.#accepting && cause !== 'shutdown') return;
    record.revertFailures += 1;
    const retryMs = Math.min(MAX_RETRY_MS, this.#retryMs * 2 ** (record.revertFailures - 1));
    const retryAt = this.#now() + retryMs;
    if (AUTONOMOUS_CAUSES.has(cause)) this.#armTimer(record, retryAt, cause);
    else this.#armTimer(record, Math.max(record.outcome?.deadline ?? retryAt, retryAt), 'deadline');
  }

  /**
   * Reverts one fault: aborts it if it is still being injected, then runs its revert. Idempotent:
   * concurrent calls share one attempt, an unknown or finished fault succeeds with `wasActive: false`.
   * A failed revert leaves the fault registered (still active) and rejects; a later call tries again.
   */
  revert(faultId: string, cause: RevertCause): Promise<RevertOutcome> {
    const record = this.#records.get(faultId);
    if (!record) return Promise.resolve({ faultId, revertedAt: this.#now(), wasActive: false });
    record.reverting ??= this.#revert(record, cause);
    return record.reverting;
  }

  async #revert(record: FaultRecord, cause: RevertCause): Promise<RevertOutcome> {
    const { faultId, runId } = record.request;
    const log = this.#log.child({ fault: faultId, runId, type: record.type, container: record.containerName, cause });
    clearTimeout(record.timer);
    record.timer = undefined;
    if (!record.outcome) {
      record.abort.abort(new FaultlineError(ErrorCode.Aborted, `fault ${faultId} reverted (${cause}) while being injected`));
    }
    let applied = true;
    try {
      await record.injection;
    } catch {
      // Never applied: the driver undid what it had done (the ledger check below makes sure).
      applied = false;
    }
    if (applied) {
      // A re-injection after a target restart stops (the driver undoes it) or finishes first, so the
      // revert below removes whatever is in place now.
      record.reapplyAbort?.abort(new FaultlineError(ErrorCode.Aborted, `fault ${faultId} reverted (${cause}) while being applied again`));
      await record.following;
    }
    try {
      if (applied) await record.revertFn?.();
      await this.#revertLeftover(record, log);
    } catch (error) {
      record.reverting = undefined;
      log.error({ err: error, failures: record.revertFailures + 1 }, 'fault revert failed; the fault may still be in place: retrying later');
      if (AUTONOMOUS_CAUSES.has(cause)) this.#notify({ faultId, runId, cause, revertedAt: this.#now(), error: toWireError(error) });
      if (this.#records.get(faultId) === record) this.#scheduleRetry(record, cause);
      throw error;
    }
    const revertedAt = this.#now();
    if (this.#records.get(faultId) === record) this.#records.delete(faultId);
    if (!applied) {
      log.info('fault reverted before it was applied');
      return { faultId, revertedAt, wasActive: false };
    }
    if (record.outcome) this.#remember(record.outcome);
    this.#syncWatcher();
    log.info('fault reverted');
    if (AUTONOMOUS_CAUSES.has(cause)) this.#notify({ faultId, runId, cause, revertedAt });
    return { faultId, revertedAt, wasActive: true };
  }

  /**
   * The ledger is the truth about what is in place: an entry that outlived a revert (a re-apply after a
   * target restart or an aborted injection that could not undo itself) is reverted from the ledger.
   */
  async #revertLeftover(record: FaultRecord, log: Logger): Promise<void> {
    const entry = await this.#ctx.ledger.get(record.request.faultId);
    if (!entry) return;
    log.warn('the ledger still holds the fault after its revert: reverting it from the ledger');
    await record.driver.recover(this.#ctx, entry);
    await this.#ctx.ledger.remove(record.request.faultId);
  }

  /** Reverts every fault (in flight or in place); one failure does not stop the others. */
  async revertAll(cause: RevertCause): Promise<RevertAllOutcome> {
    const ids = [...this.#records.keys()];
    const results = await Promise.allSettled(ids.map((id) => this.revert(id, cause)));
    const outcome: RevertAllOutcome = { reverted: [], failed: [] };
    results.forEach((result, index) => {
      const faultId = ids[index]!;
      if (result.status === 'fulfilled') outcome.reverted.push(faultId);
      else outcome.failed.push({ faultId, error: toWireError(result.reason) });
    });
    if (ids.length > 0) {
      this.#log.info({ cause, reverted: outcome.reverted, failed: outcome.failed }, `reverted ${outcome.reverted.length} of ${ids.length} faults`);
    }
    return outcome;
  }

  /** Refuses new faults from now on and reverts every fault (cause `shutdown`). */
  shutdown(): Promise<RevertAllOutcome> {
    this.#accepting = false;
    return this.revertAll('shutdown');
  }

  /** Stops every timer and the Docker event subscription (after {@link shutdown}, or when giving up at a hard deadline). */
  dispose(): void {
    this.#accepting = false;
    for (const record of this.#records.values()) {
      clearTimeout(record.timer);
      record.timer = undefined;
      record.reapplyAbort?.abort(new FaultlineError(ErrorCode.Aborted, 'the agent is closing'));
    }
    this.#watcher?.abort();
    this.#watcher = undefined;
  }

  // ---- Targets that restart or disappear while a sustained fault holds (see TargetRestartPolicy) ----

  /** Follows Docker events exactly while a sustained fault is applied. */
  #syncWatcher(): void {
    const wanted = this.#watchTargets && this.#accepting && [...this.#records.values()].some((record) => record.outcome !== undefined);
    if (wanted && !this.#watcher) {
      const watcher = new AbortController();
      this.#watcher = watcher;
      void this.#watch(watcher.signal);
    } else if (!wanted && this.#watcher) {
      this.#watcher.abort();
      this.#watcher = undefined;
    }
  }

  async #watch(signal: AbortSignal): Promise<void> {
    const log = this.#log.child({ component: 'target-watch' });
    let failures = 0;
    while (!signal.aborted) {
      try {
        const events = this.#ctx.docker.events({
          actions: ['start', 'destroy'],
          signal,
          // Whatever happened before the subscription (or while it was down) is found by looking.
          onSubscribed: () => {
            failures = 0;
            for (const record of this.#records.values()) this.#followTarget(record);
          },
        });
        for await (const event of events) this.#onContainerEvent(event);
        if (!signal.aborted) log.warn('the Docker event stream ended: subscribing again');
      } catch (error) {
        if (signal.aborted) break;
        failures += 1;
        log.warn({ err: error, failures }, 'cannot follow Docker events: a target that restarts meanwhile is noticed once this works again');
      }
      try {
        await sleep(Math.min(10_000, 250 * 2 ** Math.min(failures, 6)), undefined, { signal });
      } catch {
        break;
      }
    }
  }

  #onContainerEvent(event: ContainerEvent): void {
    for (const record of this.#records.values()) {
      if (record.outcome?.containerId !== event.id) continue;
      if (event.action === 'destroy') this.#targetRemoved(record, 'Docker reported it destroyed');
      else this.#followTarget(record);
    }
  }

  /** Looks at the fault's target after an event, one look at a time per fault. */
  #followTarget(record: FaultRecord): void {
    const previous = record.following ?? Promise.resolve();
    const next: Promise<void> = previous
      .then(() => this.#checkTarget(record))
      .catch((error: unknown) => {
        this.#log.error({ err: error, fault: record.request.faultId, container: record.containerName }, 'could not check the target of a fault after a Docker event');
      })
      .finally(() => {
        if (record.following === next) record.following = undefined;
      });
    record.following = next;
  }

  async #checkTarget(record: FaultRecord): Promise<void> {
    const live = (): boolean => this.#records.get(record.request.faultId) === record && !record.reverting && record.outcome !== undefined;
    if (!live()) return;
    const container = await this.#ctx.docker.tryInspect(record.outcome!.containerId);
    if (!live()) return;
    if (!container) {
      this.#targetRemoved(record, 'it no longer exists');
      return;
    }
    if (targetRestartPolicy(record.driver) !== 'reapply' || record.appliedPid === undefined) return;
    // Not running (yet): its next start event brings it back here.
    if (!container.running || container.pid <= 0 || container.pid === record.appliedPid) return;
    await this.#reapply(record, container);
  }

  /** The target was removed: revert what is left (e.g. a proxy process) and tell the controller. */
  #targetRemoved(record: FaultRecord, why: string): void {
    if (record.reverting || this.#records.get(record.request.faultId) !== record) return;
    this.#log.warn(
      { fault: record.request.faultId, runId: record.request.runId, type: record.type, container: record.containerName },
      `target container ${record.containerName} was removed while the fault was active (${why}): reverting what is left of the fault and reporting it (cause target-removed)`,
    );
    // Not awaited: the revert waits for the check that may be calling this. Failures are logged and retried.
    this.revert(record.request.faultId, 'target-removed').catch(() => undefined);
  }

  /** Reverts the fault from the target's previous namespace, then injects it again for the time left. */
  async #reapply(record: FaultRecord, container: ContainerDetails): Promise<void> {
    const { faultId, runId } = record.request;
    const order = record.order;
    const deadline = record.outcome?.deadline;
    if (!order || deadline === null || deadline === undefined) return;
    const remainingMs = deadline - this.#now();
    // The deadline timer is about to revert it anyway.
    if (remainingMs <= 0) return;
    const log = this.#log.child({ fault: faultId, runId, type: record.type, container: container.name });
    const abort = new AbortController();
    record.reapplyAbort = abort;
    const started = this.#now();
    try {
      log.warn(
        { oldPid: record.appliedPid, newPid: container.pid, remainingMs },
        'target container restarted (new process, new network namespace): applying the fault again for the rest of its duration',
      );
      try {
        await record.revertFn?.();
      } catch (error) {
        log.error({ err: error }, 'could not remove the fault from the previous namespace of the target: not applying it again now (the deadline revert retries)');
        return;
      }
      record.appliedPid = 0;
      // The revert succeeded, so an entry it left is stale; the injection records the fault afresh.
      await this.#ctx.ledger.remove(faultId);
      if (abort.signal.aborted) return;
      try {
        const result = await record.driver.inject(
          this.#ctx,
          { ...order, target: { containerId: container.id, containerName: container.name }, durationMs: remainingMs },
          abort.signal,
        );
        record.revertFn = result.revert;
        record.reapplied += 1;
        record.appliedPid = (await this.#ctx.ledger.get(faultId).catch(() => undefined))?.pid ?? container.pid;
        if (record.outcome) record.outcome.details = { ...result.details, reappliedAfterRestart: record.reapplied };
        log.info({ pid: record.appliedPid, tookMs: this.#now() - started, remainingMs }, 'fault applied again in the restarted target');
      } catch (error) {
        log.error({ err: error }, 'could not apply the fault again after the target restarted: tried again at its next start; the fault stays held until its deadline');
        await this.#cleanUpFailedInjection(record, log);
      }
    } finally {
      if (record.reapplyAbort === abort) record.reapplyAbort = undefined;
    }
  }

  #remember(outcome: InjectOutcome): void {
    this.#finished.delete(outcome.faultId);
    this.#finished.set(outcome.faultId, outcome);
    while (this.#finished.size > this.#rememberFinished) {
      const oldest = this.#finished.keys().next();
      if (oldest.done) break;
      this.#finished.delete(oldest.value);
    }
  }

  #notify(notice: RevertNotice): void {
    try {
      this.#onReverted(notice);
    } catch (error) {
      this.#log.error({ err: error, fault: notice.faultId }, 'could not report a revert');
    }
  }
}
