import type { RunStatus, RunTrigger } from './api.js';
import type { Schedule, Window } from './manifest/experiment.js';

/** What became of one fire time of a schedule. */
export type FireOutcome = 'fired' | 'skipped' | 'missed';

/**
 * Why a fire was skipped or missed: `window` (outside the schedule's window), `concurrency` (an
 * earlier run was still going, `concurrency: forbid`), `halted` (a halt was in force), `error` (the
 * run could not be started, e.g. the experiment was deleted), `shutdown` (the controller was
 * stopping), `down` (the controller was not running at that time), `late` (the controller's timer
 * woke too late: the process was suspended or blocked).
 */
export type FireReason = 'window' | 'concurrency' | 'halted' | 'error' | 'shutdown' | 'down' | 'late';

/** One fire time and its outcome, as `GET /api/v1/schedules/{kind}/{name}/fires` lists it. Times are epoch ms. */
export interface FireRecord {
  id: number;
  /** `experiment/<name>` or `gameday/<name>`. */
  schedule: string;
  /** The fire time the schedule called for. */
  scheduledAt: number;
  /** When the outcome was decided (the controller's clock). */
  recordedAt: number;
  outcome: FireOutcome;
  /** Null for `fired`. */
  reason: FireReason | null;
  /** The experiment run id or game-day run id a `fired` outcome started. */
  runId: string | null;
  detail: string | null;
}

/** The kinds of manifests that can carry a schedule. */
export type ScheduleKind = 'experiment' | 'gameday';

/** A schedule as `GET /api/v1/schedules` shows it. */
export interface ScheduleView {
  kind: ScheduleKind;
  name: string;
  schedule: Schedule;
  /** The zone cron fields and the window are read in (UTC for `at`). */
  timezone: string;
  window: Window | null;
  concurrency: 'forbid' | 'allow';
  /** The next fire time (epoch ms), whether or not the window lets it run; null when it never fires again. */
  nextFire: number | null;
  /** The next fire times (at most the number asked for), each marked with whether the window lets it run. */
  upcoming: { at: number; insideWindow: boolean }[];
  lastFire: { at: number; outcome: FireOutcome; reason: FireReason | null; runId: string | null } | null;
}

/** Game-day run statuses: like run statuses; `completed` only when every experiment completed. */
export type GameDayRunStatus = RunStatus;

/** One experiment of a game-day run. */
export interface GameDayStep {
  experiment: string;
  /** Null when the experiment was not started (skipped after a stop, or it does not exist). */
  runId: string | null;
  /** `pending` until it starts; `skipped` when the game day stopped before it. */
  status: RunStatus | 'skipped';
  reason: string | null;
  startedAt: number | null;
  endedAt: number | null;
}

/** A game-day run, as `GET /api/v1/gameday-runs/{id}` returns it. */
export interface GameDayRun {
  /** Starts with `gd-`. */
  id: string;
  gameday: string;
  status: GameDayRunStatus;
  /** The overall verdict in words. */
  reason: string | null;
  trigger: Exclude<RunTrigger, 'gameday'>;
  dryRun: boolean;
  stopOnDeviation: boolean;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  /** In the order they run. */
  steps: GameDayStep[];
}
