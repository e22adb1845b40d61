import type { Logger } from 'pino';
import {
  ErrorCode,
  toWireError,
  type FireOutcome,
  type FireReason,
  type Schedule,
  type ScheduleKind,
  type ScheduleView,
  type Window,
} from '@faultline/shared';
import type { Store } from '../store/store.js';
import { compileSchedule, insideWindow, nextFire, nextFires, scheduleZone, type CompiledSchedule } from './fire-times.js';

/** What a schedule fires: the scheduler asks it about halts and busy manifests, and starts runs through it. */
export interface FireTarget {
  /** True while a halt is in force. */
  halted(): boolean;
  /** True while a run of this experiment or game day is in progress. */
  busy(kind: ScheduleKind, name: string): boolean;
  /**
   * Starts a run for a fire time and returns its id (an experiment run id, or a game-day run id).
   * @throws anything; a FaultlineError `halted` is recorded as skipped: halted, `conflict` as skipped: shutdown.
   */
  start(kind: ScheduleKind, name: string, scheduledAt: number): string;
}

/** Options of {@link Scheduler}. Defaults in brackets. */
export interface SchedulerOptions {
  store: Store;
  target: FireTarget;
  log: Logger;
  /**
   * Longest single timer [60 s]. The scheduler wakes at least this often and re-reads the clock, so a
   * wall-clock jump is noticed within this time; it also keeps timers under Node's 24.8-day limit.
   */
  maxTimerMs?: number;
  /**
   * A fire whose timer wakes later than this after its fire time (the process was suspended or
   * blocked) is recorded as `missed` instead of starting a run [60 s].
   */
  lateGraceMs?: number;
  /** At most this many missed fire times are recorded one by one per catch-up; the rest in one summary record [100]. */
  missedRecordLimit?: number;
}

/** Lifecycle of the scheduler. */
export type SchedulerState = 'created' | 'running' | 'stopped';

interface Entry {
  key: string;
  kind: ScheduleKind;
  name: string;
  schedule: Schedule;
  compiled: CompiledSchedule;
  spec: string;
  window: Window | undefined;
  concurrency: 'forbid' | 'allow';
  /** The next fire time (epoch ms), or null when it never fires again. */
  due: number | null;
  /** The last fire time that got an outcome, and the outcome (`fired`, `skipped: window`, ...). */
  last: { at: number; outcome: string } | null;
}

/** The schedule key of a manifest: `experiment/<name>` or `gameday/<name>`. */
export function scheduleKey(kind: ScheduleKind, name: string): string {
  return `${kind}/${name}`;
}

/**
 * Arms one timer for the earliest fire time of every schedule (experiments' `spec.schedule` and game
 * days'), computed by {@link nextFire} in the schedule's own zone. It never fires early (a timer that
 * wakes before the fire time is re-armed), fires once when a timer wakes late (earlier fire times that
 * the late wake-up swallowed are recorded `missed`), records every fire time's outcome in the store,
 * and on start-up records the fire times that passed while the controller was down as `missed`,
 * without running them. See docs/scheduling.md.
 */
export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private stateValue: SchedulerState = 'created';
  private unsubscribe: (() => void) | undefined;
  private readonly log: Logger;
  private readonly maxTimerMs: number;
  private readonly lateGraceMs: number;
  private readonly missedRecordLimit: number;

  constructor(private readonly options: SchedulerOptions) {
    this.log = options.log.child({ component: 'scheduler' });
    this.maxTimerMs = options.maxTimerMs ?? 60_000;
    this.lateGraceMs = options.lateGraceMs ?? 60_000;
    this.missedRecordLimit = options.missedRecordLimit ?? 100;
  }

  get state(): SchedulerState {
    return this.stateValue;
  }

  /** Loads every schedule from the store, records fire times missed while the controller was down, and arms the timer. */
  start(): void {
    if (this.stateValue !== 'created') return;
    this.stateValue = 'running';
    this.unsubscribe = this.options.store.onManifestChange(() => {
      try {
        this.sync();
      } catch (error) {
        // A store write must not fail because of the scheduler; the next change or restart syncs again.
        this.log.error({ err: error }, 'could not re-read the schedules');
      }
    });
    this.sync();
  }

  /** Disarms every timer; no fire happens after this. Idempotent. */
  stop(): void {
    if (this.stateValue === 'stopped') return;
    this.stateValue = 'stopped';
    this.unsubscribe?.();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Re-reads the schedules from the store (called on every manifest change) and re-arms. */
  sync(): void {
    if (this.stateValue !== 'running') return;
    const now = Date.now();
    const seen = new Set<string>();
    for (const source of this.sources()) {
      seen.add(source.key);
      const existing = this.entries.get(source.key);
      if (existing && existing.spec === source.spec) {
        // Same schedule: keep its timing; the window and concurrency may have changed.
        existing.window = source.window;
        existing.concurrency = source.concurrency;
        continue;
      }
      let compiled: CompiledSchedule;
      try {
        compiled = compileSchedule(source.schedule);
      } catch (error) {
        this.log.error({ err: error, schedule: source.key }, 'schedule ignored: it does not compile');
        continue;
      }
      const entry: Entry = { ...source, compiled, due: null, last: null };
      this.entries.set(source.key, entry);
      this.catchUp(entry, existing === undefined, now);
    }
    for (const key of [...this.entries.keys()]) {
      if (seen.has(key)) continue;
      this.entries.delete(key);
      this.options.store.deleteScheduleState(key);
      this.log.info({ schedule: key }, 'schedule removed');
    }
    // States of schedules that disappeared while the controller was down.
    for (const state of this.options.store.listScheduleStates()) {
      if (!seen.has(state.key)) this.options.store.deleteScheduleState(state.key);
    }
    this.arm();
  }

  /** The next fire time of a manifest's schedule, or null (none, or it never fires again). */
  nextFire(kind: ScheduleKind, name: string): number | null {
    return this.entries.get(scheduleKey(kind, name))?.due ?? null;
  }

  /** Every schedule with its next `count` fire times, by kind then name. */
  list(count = 3): ScheduleView[] {
    const now = Date.now();
    return [...this.entries.values()]
      .sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name))
      .map((entry) => this.view(entry, count, now));
  }

  /** One schedule's view, or undefined. */
  get(kind: ScheduleKind, name: string, count = 3): ScheduleView | undefined {
    const entry = this.entries.get(scheduleKey(kind, name));
    return entry ? this.view(entry, count, Date.now()) : undefined;
  }

  private view(entry: Entry, count: number, now: number): ScheduleView {
    const zone = scheduleZone(entry.compiled);
    const upcoming = nextFires(entry.compiled, Math.max(now, (entry.due ?? now) - 1), count).map((at) => ({
      at,
      insideWindow: entry.window ? insideWindow(entry.window, zone, at) : true,
    }));
    const state = this.options.store.getScheduleState(entry.key);
    const last = state?.lastFireAt == null ? undefined : this.options.store.listFires({ schedule: entry.key, limit: 1 })[0];
    return {
      kind: entry.kind,
      name: entry.name,
      schedule: entry.schedule,
      timezone: zone,
      window: entry.window ?? null,
      concurrency: entry.concurrency,
      nextFire: entry.due,
      upcoming,
      lastFire: last ? { at: last.scheduledAt, outcome: last.outcome, reason: last.reason, runId: last.runId } : null,
    };
  }

  private *sources(): Generator<Omit<Entry, 'compiled' | 'due' | 'last'>> {
    const { store } = this.options;
    for (const experiment of store.listExperiments()) {
      const spec = experiment.manifest.spec;
      if (!spec.schedule) continue;
      yield {
        key: scheduleKey('experiment', experiment.name),
        kind: 'experiment',
        name: experiment.name,
        schedule: spec.schedule,
        spec: JSON.stringify(spec.schedule),
        window: spec.window,
        concurrency: spec.concurrency ?? 'forbid',
      };
    }
    for (const gameday of store.listGameDays()) {
      const spec = gameday.manifest.spec;
      if (!spec.schedule) continue;
      yield {
        key: scheduleKey('gameday', gameday.name),
        kind: 'gameday',
        name: gameday.name,
        schedule: spec.schedule,
        spec: JSON.stringify(spec.schedule),
        window: spec.window,
        concurrency: spec.concurrency,
      };
    }
  }

  /**
   * Sets up a schedule that is new to this process. With stored state for the same schedule, the fire
   * times between the last accounted one and now passed while the controller was down: they are
   * recorded `missed` and not run. A new or changed schedule starts from now.
   */
  private catchUp(entry: Entry, fromStore: boolean, now: number): void {
    const { store } = this.options;
    const state = fromStore ? store.getScheduleState(entry.key) : undefined;
    if (state && state.spec === entry.spec && state.lastFireAt !== null && state.lastOutcome !== null) {
      entry.last = { at: state.lastFireAt, outcome: state.lastOutcome };
    }
    if (state && state.spec === entry.spec && state.coveredUntil < now) {
      const missed = this.enumerate(entry.compiled, state.coveredUntil, now);
      for (const at of missed.times) {
        this.record(entry, at, now, 'missed', 'down', 'the controller was not running at this fire time; missed fires are never run late');
      }
      if (missed.more) {
        this.record(entry, missed.more, now, 'missed', 'down', `more fire times up to ${new Date(now).toISOString()} were missed while the controller was down; only the first ${this.missedRecordLimit} are listed`);
      }
      if (missed.times.length > 0) this.log.warn({ schedule: entry.key, missed: missed.times.length + (missed.more ? 1 : 0) }, 'fire times missed while the controller was down recorded');
    }
    entry.due = nextFire(entry.compiled, now);
    this.saveState(entry, now);
    this.log.info({ schedule: entry.key, nextFire: entry.due === null ? null : new Date(entry.due).toISOString() }, 'schedule armed');
  }

  /** Fire times in (after, until], at most the record limit; `more` is a fire time past the limit, if any. */
  private enumerate(compiled: CompiledSchedule, after: number, until: number): { times: number[]; more: number | null } {
    const times: number[] = [];
    let t = after;
    for (;;) {
      const next = nextFire(compiled, t);
      if (next === null || next > until) return { times, more: null };
      if (times.length >= this.missedRecordLimit) return { times, more: next };
      times.push(next);
      t = next;
    }
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stateValue !== 'running') return;
    let earliest: number | null = null;
    for (const entry of this.entries.values()) if (entry.due !== null && (earliest === null || entry.due < earliest)) earliest = entry.due;
    if (earliest === null) return;
    const delay = Math.min(Math.max(0, earliest - Date.now()), this.maxTimerMs);
    this.timer = setTimeout(() => this.wake(), delay);
    this.timer.unref();
  }

  private wake(): void {
    this.timer = undefined;
    if (this.stateValue !== 'running') return;
    const now = Date.now();
    const due = [...this.entries.values()].filter((entry) => entry.due !== null && entry.due <= now).sort((a, b) => a.due! - b.due!);
    for (const entry of due) {
      try {
        this.fireDue(entry, now);
      } catch (error) {
        // Never let one schedule's problem stop the others; the entry moves on to its next fire time.
        this.log.error({ err: error, schedule: entry.key }, 'schedule fire failed');
        entry.due = nextFire(entry.compiled, now);
      }
    }
    this.arm();
  }

  /** Handles every fire time of `entry` that is due at `now`: the latest may run, earlier ones were swallowed by a late wake-up. */
  private fireDue(entry: Entry, now: number): void {
    // One commit for the outcome records and the state.
    this.options.store.transaction(() => this.fireDueInTransaction(entry, now));
  }

  private fireDueInTransaction(entry: Entry, now: number): void {
    const first = entry.due!;
    const swallowed = this.enumerate(entry.compiled, first, now);
    const times = [first, ...swallowed.times];
    const latest = times.at(-1)!;
    for (const at of times.slice(0, -1)) {
      this.record(entry, at, now, 'missed', 'late', `the timer woke ${now - at} ms after this fire time (process suspended or blocked); only the latest fire time may run`);
    }
    if (swallowed.more !== null) {
      this.record(entry, latest, now, 'missed', 'late', `more fire times up to ${new Date(now).toISOString()} were swallowed by a late wake-up; not listed`);
    } else if (now - latest > this.lateGraceMs) {
      this.record(entry, latest, now, 'missed', 'late', `the timer woke ${now - latest} ms after this fire time, more than the ${this.lateGraceMs} ms grace`);
    } else {
      this.decide(entry, latest, now);
    }
    entry.due = nextFire(entry.compiled, now);
    this.saveState(entry, now);
  }

  /** Stores what a restart needs: every fire time up to `coveredUntil` has an outcome. */
  private saveState(entry: Entry, coveredUntil: number): void {
    this.options.store.putScheduleState({
      key: entry.key,
      spec: entry.spec,
      coveredUntil,
      lastFireAt: entry.last?.at ?? null,
      lastOutcome: entry.last?.outcome ?? null,
      nextFireAt: entry.due,
    });
  }

  private decide(entry: Entry, at: number, now: number): void {
    const { target } = this.options;
    if (entry.window && !insideWindow(entry.window, scheduleZone(entry.compiled), at)) {
      const w = entry.window;
      this.record(entry, at, now, 'skipped', 'window', `outside the window ${w.start}-${w.end}${w.days ? ` ${w.days.join(',')}` : ''} (${scheduleZone(entry.compiled)})`);
      return;
    }
    if (target.halted()) {
      this.record(entry, at, now, 'skipped', 'halted', 'a halt is in force; scheduled fires resume after "faultline resume"');
      return;
    }
    if (entry.concurrency === 'forbid' && target.busy(entry.kind, entry.name)) {
      this.record(entry, at, now, 'skipped', 'concurrency', `a run of ${entry.kind} ${entry.name} is still in progress (concurrency: forbid)`);
      return;
    }
    try {
      const runId = target.start(entry.kind, entry.name, at);
      this.record(entry, at, now, 'fired', null, now - at > 1000 ? `started ${now - at} ms after the fire time` : null, runId);
      this.log.info({ schedule: entry.key, runId, scheduledAt: new Date(at).toISOString() }, 'schedule fired');
    } catch (error) {
      const wire = toWireError(error);
      const reason: FireReason = wire.code === ErrorCode.Halted ? 'halted' : wire.code === ErrorCode.Conflict ? 'shutdown' : 'error';
      this.record(entry, at, now, 'skipped', reason, wire.message);
      this.log.warn({ schedule: entry.key, err: error }, `scheduled fire skipped: ${wire.message}`);
    }
  }

  private record(entry: Entry, scheduledAt: number, now: number, outcome: FireOutcome, reason: FireReason | null, detail: string | null, runId: string | null = null): void {
    this.options.store.insertFire({ schedule: entry.key, scheduledAt, recordedAt: now, outcome, reason, runId, detail });
    entry.last = { at: scheduledAt, outcome: reason ? `${outcome}: ${reason}` : outcome };
  }
}
