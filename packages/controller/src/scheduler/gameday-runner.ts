import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  ErrorCode,
  FaultlineError,
  errorMessage,
  toWireError,
  type GameDay,
  type GameDayRun,
  type GameDayRunStatus,
  type GameDayStep,
} from '@faultline/shared';
import type { RunManager } from '../runs/run-manager.js';
import type { Store } from '../store/store.js';

/** Options of {@link GameDayRunner}. */
export interface GameDayRunnerOptions {
  store: Store;
  runs: RunManager;
  log: Logger;
}

interface LiveGameDay {
  record: GameDayRun;
  stop: AbortController;
  /** The experiment run in progress, if any. */
  currentRunId: string | null;
  done: Promise<void>;
}

/**
 * Runs game days (SPEC §3): their experiments one after the other through the {@link RunManager}
 * (trigger `gameday`), stopping at the first run that does not complete when `stopOnDeviation`, and
 * always at an aborted one. Keeps a game-day run record in the store.
 */
export class GameDayRunner {
  private readonly active = new Map<string, LiveGameDay>();
  private accepting = true;
  private readonly log: Logger;

  constructor(private readonly options: GameDayRunnerOptions) {
    this.log = options.log.child({ component: 'gamedays' });
  }

  /** Marks game-day runs left running by a previous controller process as failed. */
  recoverInterrupted(): string[] {
    const ids: string[] = [];
    for (const record of this.options.store.interruptedGameDayRuns()) {
      const now = Date.now();
      for (const step of record.steps) {
        if (step.status === 'pending') step.status = 'skipped';
        if (step.status === 'running') {
          step.status = 'failed';
          step.reason = 'controller restarted while the run was in progress';
          step.endedAt = now;
        }
      }
      record.status = 'failed';
      record.reason = 'controller restarted while the game day was in progress';
      record.endedAt = now;
      this.options.store.saveGameDayRun(record);
      ids.push(record.id);
    }
    if (ids.length > 0) this.log.warn({ gamedayRuns: ids }, 'game-day runs interrupted by a controller restart marked failed');
    return ids;
  }

  /** True while a run of this game day is in progress. */
  isRunning(gameday: string): boolean {
    for (const live of this.active.values()) if (live.record.gameday === gameday) return true;
    return false;
  }

  /** The record of a live game-day run. */
  live(id: string): GameDayRun | undefined {
    return this.active.get(id)?.record;
  }

  /**
   * Starts a game-day run and returns its record at once; the experiments run in the background.
   * @throws FaultlineError `halted` during a halt, `conflict` while shutting down.
   */
  start(gameday: GameDay, options: { trigger: GameDayRun['trigger']; dryRun?: boolean }): GameDayRun {
    if (!this.accepting) throw new FaultlineError(ErrorCode.Conflict, 'the controller is shutting down and accepts no new runs');
    const halt = this.options.runs.halted();
    if (halt) {
      throw new FaultlineError(ErrorCode.Halted, `Faultline is halted (${halt.reason}); no run starts until POST /api/v1/resume (faultline resume)`);
    }
    const now = Date.now();
    const record: GameDayRun = {
      id: `gd-${now.toString(36)}${randomBytes(3).toString('hex')}`,
      gameday: gameday.metadata.name,
      status: 'running',
      reason: null,
      trigger: options.trigger,
      dryRun: options.dryRun ?? false,
      stopOnDeviation: gameday.spec.stopOnDeviation,
      createdAt: now,
      startedAt: now,
      endedAt: null,
      steps: gameday.spec.experiments.map((experiment) => ({
        experiment,
        runId: null,
        status: 'pending',
        reason: null,
        startedAt: null,
        endedAt: null,
      })),
    };
    this.options.store.saveGameDayRun(record);
    const live: LiveGameDay = { record, stop: new AbortController(), currentRunId: null, done: Promise.resolve() };
    this.active.set(record.id, live);
    this.log.info({ gamedayRun: record.id, gameday: record.gameday, trigger: record.trigger }, 'game day started');
    live.done = this.execute(live)
      .catch((error: unknown) => {
        this.log.error({ err: error, gamedayRun: record.id }, 'game day crashed');
        this.finish(live, 'failed', `unexpected error: ${errorMessage(error)}`);
      })
      .finally(() => {
        this.active.delete(record.id);
        this.log.info({ gamedayRun: record.id, status: record.status, reason: record.reason }, 'game day ended');
      });
    return record;
  }

  /** Aborts a live game-day run: its current experiment run is aborted and the rest are skipped. */
  abort(id: string, reason: string): void {
    const live = this.active.get(id);
    if (!live) {
      if (this.options.store.getGameDayRun(id)) throw new FaultlineError(ErrorCode.Conflict, `game-day run ${id} has already ended`);
      throw new FaultlineError(ErrorCode.NotFound, `game-day run ${id} does not exist`);
    }
    this.stopLive(live, reason);
  }

  /** Waits until a game-day run ends. */
  async wait(id: string): Promise<void> {
    await this.active.get(id)?.done;
  }

  /** Refuses new game days, aborts live ones and waits for them, up to `deadlineMs`. */
  async shutdown(reason: string, deadlineMs = 30_000): Promise<void> {
    this.accepting = false;
    const lives = [...this.active.values()];
    for (const live of lives) this.stopLive(live, reason);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(lives.map((live) => live.done)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, deadlineMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private stopLive(live: LiveGameDay, reason: string): void {
    if (live.stop.signal.aborted) return;
    live.stop.abort(reason);
    if (live.currentRunId !== null) {
      try {
        this.options.runs.abort(live.currentRunId, reason);
      } catch {
        // The run has just ended: the loop sees the stop before the next experiment.
      }
    }
  }

  private async execute(live: LiveGameDay): Promise<void> {
    const { record } = live;
    const { store, runs } = this.options;
    let stopped: string | null = null;
    for (const step of record.steps) {
      if (live.stop.signal.aborted) stopped ??= `aborted: ${String(live.stop.signal.reason)}`;
      if (stopped !== null) {
        step.status = 'skipped';
        step.reason = stopped;
        continue;
      }
      step.startedAt = Date.now();
      const experiment = store.getExperiment(step.experiment);
      if (!experiment) {
        this.endStep(step, 'failed', `experiment "${step.experiment}" does not exist`);
        store.saveGameDayRun(record);
        if (record.stopOnDeviation) stopped = `stopped after ${step.experiment} failed`;
        continue;
      }
      let runId: string;
      try {
        runId = runs.start(experiment.manifest, { dryRun: record.dryRun, trigger: 'gameday' }).id;
      } catch (error) {
        const wire = toWireError(error);
        const status = wire.code === ErrorCode.Halted || wire.code === ErrorCode.Conflict ? 'aborted' : 'failed';
        this.endStep(step, status, wire.message);
        store.saveGameDayRun(record);
        stopped = status === 'aborted' ? `aborted: ${wire.message}` : record.stopOnDeviation ? `stopped after ${step.experiment} failed` : null;
        continue;
      }
      step.runId = runId;
      step.status = 'running';
      live.currentRunId = runId;
      store.saveGameDayRun(record);
      // A stop that came between the check above and now must reach this run too.
      if (live.stop.signal.aborted) {
        try {
          runs.abort(runId, String(live.stop.signal.reason));
        } catch {
          // It has ended already.
        }
      }
      await runs.wait(runId);
      live.currentRunId = null;
      const journal = store.getRun(runId);
      const raw = journal?.status ?? 'failed';
      const final = raw === 'pending' || raw === 'running' ? 'failed' : raw;
      this.endStep(step, final, journal?.reason ?? null);
      step.endedAt = journal?.endedAt ?? Date.now();
      store.saveGameDayRun(record);
      if (final === 'aborted') stopped = `aborted: ${step.reason ?? `${step.experiment} was aborted`}`;
      else if (final !== 'completed' && record.stopOnDeviation) stopped = `stopped after ${step.experiment} ${final}`;
    }
    const { status, reason } = verdict(record.steps, stopped);
    this.finish(live, status, reason);
  }

  private endStep(step: GameDayStep, status: GameDayStep['status'], reason: string | null): void {
    step.status = status;
    step.reason = reason;
    step.endedAt = Date.now();
  }

  private finish(live: LiveGameDay, status: GameDayRunStatus, reason: string): void {
    const { record } = live;
    if (record.endedAt !== null) return;
    record.status = status;
    record.reason = reason;
    record.endedAt = Date.now();
    for (const step of record.steps) if (step.status === 'pending') step.status = 'skipped';
    this.options.store.saveGameDayRun(record);
  }
}

/**
 * The overall verdict: `aborted` if any run was aborted (or the game day was stopped), else `deviated` if
 * any deviated, else `failed` if any failed, else `completed`.
 */
export function verdict(steps: readonly GameDayStep[], stopped: string | null): { status: GameDayRunStatus; reason: string } {
  const count = (status: GameDayStep['status']) => steps.filter((step) => step.status === status).length;
  const completed = count('completed');
  const skipped = count('skipped');
  const summary = `${completed} of ${steps.length} experiment(s) completed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
  const first = (status: GameDayStep['status']) => steps.find((step) => step.status === status);
  const aborted = first('aborted');
  if (aborted || stopped?.startsWith('aborted')) {
    return { status: 'aborted', reason: `${summary}; ${stopped ?? `${aborted?.experiment} was aborted`}` };
  }
  const deviated = first('deviated');
  if (deviated) {
    return { status: 'deviated', reason: `${summary}; ${deviated.experiment} deviated: ${deviated.reason ?? 'no reason given'}${stopped ? ` (${stopped})` : ''}` };
  }
  const failed = first('failed');
  if (failed) {
    return { status: 'failed', reason: `${summary}; ${failed.experiment} failed: ${failed.reason ?? 'no reason given'}${stopped ? ` (${stopped})` : ''}` };
  }
  return { status: 'completed', reason: summary };
}
