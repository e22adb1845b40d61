import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  FaultlineError,
  ErrorCode,
  type Experiment,
  type FireRecord,
  type GameDay,
  type GameDayRun,
  type RunJournal,
  type RunStatus,
  type RunSummary,
  type RunTrigger,
} from '@faultline/shared';

/** Name of the database file inside the data directory. */
export const DB_FILE = 'faultline.db';

/** Default and maximum page sizes of {@link Store.listRuns}. */
export const RUN_LIST_DEFAULT_LIMIT = 50;
export const RUN_LIST_MAX_LIMIT = 1000;

/** How long a writer waits for a lock held by another connection before failing. */
const BUSY_TIMEOUT_MS = 5000;

/** Where an experiment came from: the `--experiments` directory or `PUT /api/v1/experiments/{name}`. */
export type ExperimentOrigin = 'file' | 'api';
/** The syntax of a manifest's source text. */
export type ManifestFormat = 'yaml' | 'json';

/** An experiment to store. */
export interface ManifestInput<M> {
  name: string;
  /** The text as written by the user, kept so it can be served back unchanged. */
  source: string;
  format: ManifestFormat;
  origin: ExperimentOrigin;
  /** The validated manifest, defaults applied. */
  manifest: M;
}

/** A stored manifest (experiment or game day). */
export interface StoredManifest<M> extends ManifestInput<M> {
  /** Epoch ms of the last put. */
  updatedAt: number;
}

/** An experiment to store. */
export type ExperimentInput = ManifestInput<Experiment>;
/** A stored experiment. */
export type StoredExperiment = StoredManifest<Experiment>;

export interface RunListQuery {
  experiment?: string;
  status?: RunStatus;
  /** Default 50, at most 1000. */
  limit?: number;
}

/**
 * Schema migrations, applied in order; `PRAGMA user_version` holds how many have run.
 * Append only: never edit a migration that has shipped.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE experiments (
    name       TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    format     TEXT NOT NULL CHECK (format IN ('yaml', 'json')),
    origin     TEXT NOT NULL CHECK (origin IN ('file', 'api')),
    manifest   TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE runs (
    id         TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    status     TEXT NOT NULL,
    reason     TEXT,
    dry_run    INTEGER NOT NULL,
    trigger    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at   INTEGER,
    journal    TEXT NOT NULL
  );
  CREATE INDEX runs_created ON runs (created_at DESC);
  CREATE INDEX runs_experiment_created ON runs (experiment, created_at DESC);
  CREATE INDEX runs_status ON runs (status);
  CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 2: game days, game-day runs, schedule state and fire records (docs/scheduling.md).
  `
  CREATE TABLE gamedays (
    name       TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    format     TEXT NOT NULL CHECK (format IN ('yaml', 'json')),
    origin     TEXT NOT NULL CHECK (origin IN ('file', 'api')),
    manifest   TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE gameday_runs (
    id         TEXT PRIMARY KEY,
    gameday    TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    record     TEXT NOT NULL
  );
  CREATE INDEX gameday_runs_created ON gameday_runs (gameday, created_at DESC);
  CREATE INDEX gameday_runs_status ON gameday_runs (status);
  CREATE TABLE schedule_state (
    key           TEXT PRIMARY KEY,
    spec          TEXT NOT NULL,
    covered_until INTEGER NOT NULL,
    last_fire_at  INTEGER,
    last_outcome  TEXT,
    next_fire_at  INTEGER,
    updated_at    INTEGER NOT NULL
  );
  CREATE TABLE schedule_fires (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule     TEXT NOT NULL,
    scheduled_at INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('fired', 'skipped', 'missed')),
    reason       TEXT,
    run_id       TEXT,
    detail       TEXT
  );
  CREATE INDEX schedule_fires_schedule ON schedule_fires (schedule, id DESC);
  `,
];

type ManifestKind = 'experiment' | 'gameday';

const MANIFEST_TABLES: Record<ManifestKind, string> = { experiment: 'experiments', gameday: 'gamedays' };

interface ManifestRow {
  name: string;
  source: string;
  format: ManifestFormat;
  origin: ExperimentOrigin;
  manifest: string;
  updated_at: number;
}

interface RunSummaryRow {
  id: string;
  experiment: string;
  status: RunStatus;
  reason: string | null;
  dry_run: number;
  trigger: RunTrigger;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
}

interface RunParams {
  id: string;
  experiment: string;
  status: RunStatus;
  reason: string | null;
  dry_run: number;
  trigger: RunTrigger;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  journal: string;
}

const SUMMARY_COLUMNS = 'id, experiment, status, reason, dry_run, trigger, created_at, started_at, ended_at';

/**
 * The controller's embedded SQLite store (`<dataDir>/faultline.db`): experiments, run journals and
 * settings such as the halt state. Synchronous, like better-sqlite3 itself; one instance per process.
 */
export class Store {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #stmt: ReturnType<typeof prepareStatements>;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.#db = db;
    this.#stmt = prepareStatements(db);
  }

  /** Opens (creating if needed) the store in `dataDir`, which is created with mode 0700. */
  static open(dataDir: string): Store {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, DB_FILE);
    // Journals hold manifests and probe output: create the file private; SQLite gives the -wal and
    // -shm files the same permissions as the database file.
    closeSync(openSync(path, 'a', 0o600));
    const db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('journal_mode = WAL');
      // NORMAL is durable across process crashes in WAL mode; only a power loss may drop the last commits.
      db.pragma('synchronous = NORMAL');
      migrate(db, path);
      return new Store(path, db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** True until {@link close} is called. */
  get isOpen(): boolean {
    return this.#db.open;
  }

  /** Closes the database; safe to call more than once. */
  close(): void {
    if (this.#db.open) this.#db.close();
  }

  // --- experiments -------------------------------------------------------------------------------

  /** Creates or replaces an experiment. */
  putExperiment(input: ExperimentInput): StoredExperiment {
    return this.#putManifest('experiment', input);
  }

  /** One experiment, or undefined. */
  getExperiment(name: string): StoredExperiment | undefined {
    return this.#getManifest<Experiment>('experiment', name);
  }

  /** Every experiment, by name. */
  listExperiments(): StoredExperiment[] {
    return this.#listManifests<Experiment>('experiment');
  }

  /** Removes an experiment; false when there was none. Its runs stay. */
  deleteExperiment(name: string): boolean {
    return this.#deleteManifest('experiment', name);
  }

  // Experiments and game days live in two tables of the same shape.
  #putManifest<M>(kind: ManifestKind, input: ManifestInput<M>): StoredManifest<M> {
    const updatedAt = Date.now();
    this.#prep(
      `INSERT INTO ${MANIFEST_TABLES[kind]} (name, source, format, origin, manifest, updated_at)
       VALUES (@name, @source, @format, @origin, @manifest, @updated_at)
       ON CONFLICT (name) DO UPDATE SET source = excluded.source, format = excluded.format,
         origin = excluded.origin, manifest = excluded.manifest, updated_at = excluded.updated_at`,
    ).run({
      name: input.name,
      source: input.source,
      format: input.format,
      origin: input.origin,
      manifest: JSON.stringify(input.manifest),
      updated_at: updatedAt,
    });
    this.#changed(kind, input.name);
    return { ...input, updatedAt };
  }

  #getManifest<M>(kind: ManifestKind, name: string): StoredManifest<M> | undefined {
    const row = this.#prep(`SELECT * FROM ${MANIFEST_TABLES[kind]} WHERE name = ?`).get(name) as ManifestRow | undefined;
    return row ? manifestFromRow<M>(row) : undefined;
  }

  #listManifests<M>(kind: ManifestKind): StoredManifest<M>[] {
    return (this.#prep(`SELECT * FROM ${MANIFEST_TABLES[kind]} ORDER BY name`).all() as ManifestRow[]).map((row) =>
      manifestFromRow<M>(row),
    );
  }

  #deleteManifest(kind: ManifestKind, name: string): boolean {
    const removed = this.#prep(`DELETE FROM ${MANIFEST_TABLES[kind]} WHERE name = ?`).run(name).changes > 0;
    if (removed) this.#changed(kind, name);
    return removed;
  }

  // --- runs --------------------------------------------------------------------------------------

  /** Stores a new run; throws a `conflict` error if the id exists. */
  insertRun(journal: RunJournal): void {
    try {
      this.#stmt.insertRun.run(runParams(journal));
    } catch (error) {
      if (isSqliteError(error, 'SQLITE_CONSTRAINT_PRIMARYKEY')) {
        throw new FaultlineError(ErrorCode.Conflict, `run ${journal.id} already exists`, { cause: error });
      }
      throw error;
    }
  }

  /** Writes the whole journal, inserting it if it is new. */
  saveRun(journal: RunJournal): void {
    this.#stmt.saveRun.run(runParams(journal));
  }

  /** One run's journal, or undefined. */
  getRun(id: string): RunJournal | undefined {
    const row = this.#stmt.getRun.get(id) as { journal: string } | undefined;
    return row ? (JSON.parse(row.journal) as RunJournal) : undefined;
  }

  /** Run summaries, newest first. */
  listRuns(query: RunListQuery = {}): RunSummary[] {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: clampLimit(query.limit) };
    if (query.experiment !== undefined) {
      where.push('experiment = @experiment');
      params.experiment = query.experiment;
    }
    if (query.status !== undefined) {
      where.push('status = @status');
      params.status = query.status;
    }
    const sql =
      `SELECT ${SUMMARY_COLUMNS} FROM runs` +
      (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
      // rowid breaks ties between runs created in the same millisecond: later insert, newer run.
      ' ORDER BY created_at DESC, rowid DESC LIMIT @limit';
    return (this.#db.prepare(sql).all(params) as RunSummaryRow[]).map(summaryFromRow);
  }

  /** Journals of runs left pending or running, e.g. by a crash; oldest first. */
  interruptedRuns(): RunJournal[] {
    return (this.#stmt.interruptedRuns.all() as { journal: string }[]).map((row) => JSON.parse(row.journal) as RunJournal);
  }

  // --- settings ----------------------------------------------------------------------------------

  /** A setting's value, or undefined. */
  getSetting(key: string): string | undefined {
    const row = this.#stmt.getSetting.get(key) as { value: string } | undefined;
    return row?.value;
  }

  /** Sets a setting. */
  setSetting(key: string, value: string): void {
    this.#stmt.setSetting.run(key, value);
  }

  /** Removes a setting; a missing key is fine. */
  deleteSetting(key: string): void {
    this.#stmt.deleteSetting.run(key);
  }

  // --- game days, schedules (docs/scheduling.md) -------------------------------------------------

  readonly #prepared = new Map<string, Database.Statement>();

  /** A prepared statement, cached by its text. */
  #prep(sql: string): Database.Statement {
    let statement = this.#prepared.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#prepared.set(sql, statement);
    }
    return statement;
  }

  #manifestListeners = new Set<(kind: ManifestKind, name: string) => void>();

  /** Runs `fn` in one transaction (one commit for many writes). */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  /** Calls `listener` after an experiment or game day is put or deleted; returns a function that removes it. */
  onManifestChange(listener: (kind: 'experiment' | 'gameday', name: string) => void): () => void {
    this.#manifestListeners.add(listener);
    return () => this.#manifestListeners.delete(listener);
  }

  #changed(kind: 'experiment' | 'gameday', name: string): void {
    for (const listener of this.#manifestListeners) listener(kind, name);
  }

  /** Creates or replaces a game day. */
  putGameDay(input: GameDayInput): StoredGameDay {
    return this.#putManifest('gameday', input);
  }

  /** One game day, or undefined. */
  getGameDay(name: string): StoredGameDay | undefined {
    return this.#getManifest<GameDay>('gameday', name);
  }

  /** Every game day, by name. */
  listGameDays(): StoredGameDay[] {
    return this.#listManifests<GameDay>('gameday');
  }

  /** Removes a game day; false when there was none. Its runs stay. */
  deleteGameDay(name: string): boolean {
    return this.#deleteManifest('gameday', name);
  }

  /** Writes a game-day run, inserting it if it is new. */
  saveGameDayRun(run: GameDayRun): void {
    this.#prep(
        `INSERT INTO gameday_runs (id, gameday, status, created_at, record) VALUES (@id, @gameday, @status, @created_at, @record)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record`,
      )
      .run({ id: run.id, gameday: run.gameday, status: run.status, created_at: run.createdAt, record: JSON.stringify(run) });
  }

  /** One game-day run, or undefined. */
  getGameDayRun(id: string): GameDayRun | undefined {
    const row = this.#prep('SELECT record FROM gameday_runs WHERE id = ?').get(id) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as GameDayRun) : undefined;
  }

  /** Game-day runs, newest first. */
  listGameDayRuns(query: { gameday?: string; limit?: number } = {}): GameDayRun[] {
    const limit = clampLimit(query.limit);
    const rows = (
      query.gameday === undefined
        ? this.#prep('SELECT record FROM gameday_runs ORDER BY created_at DESC, rowid DESC LIMIT ?').all(limit)
        : this.#prep('SELECT record FROM gameday_runs WHERE gameday = ? ORDER BY created_at DESC, rowid DESC LIMIT ?').all(query.gameday, limit)
    ) as { record: string }[];
    return rows.map((row) => JSON.parse(row.record) as GameDayRun);
  }

  /** Game-day runs left pending or running, e.g. by a crash. */
  interruptedGameDayRuns(): GameDayRun[] {
    const rows = this.#prep("SELECT record FROM gameday_runs WHERE status IN ('pending', 'running') ORDER BY created_at").all() as { record: string }[];
    return rows.map((row) => JSON.parse(row.record) as GameDayRun);
  }

  /** The stored state of one schedule, or undefined. */
  getScheduleState(key: string): ScheduleState | undefined {
    const row = this.#prep('SELECT * FROM schedule_state WHERE key = ?').get(key) as ScheduleStateRow | undefined;
    return row ? scheduleStateFromRow(row) : undefined;
  }

  /** Every stored schedule state. */
  listScheduleStates(): ScheduleState[] {
    return (this.#prep('SELECT * FROM schedule_state ORDER BY key').all() as ScheduleStateRow[]).map(scheduleStateFromRow);
  }

  /** Creates or replaces a schedule's state. */
  putScheduleState(state: ScheduleState): void {
    this.#prep(
        `INSERT INTO schedule_state (key, spec, covered_until, last_fire_at, last_outcome, next_fire_at, updated_at)
         VALUES (@key, @spec, @covered_until, @last_fire_at, @last_outcome, @next_fire_at, @updated_at)
         ON CONFLICT (key) DO UPDATE SET spec = excluded.spec, covered_until = excluded.covered_until,
           last_fire_at = excluded.last_fire_at, last_outcome = excluded.last_outcome,
           next_fire_at = excluded.next_fire_at, updated_at = excluded.updated_at`,
      )
      .run({
        key: state.key,
        spec: state.spec,
        covered_until: state.coveredUntil,
        last_fire_at: state.lastFireAt,
        last_outcome: state.lastOutcome,
        next_fire_at: state.nextFireAt,
        updated_at: Date.now(),
      });
  }

  /** Removes a schedule's state (its fire records stay). */
  deleteScheduleState(key: string): void {
    this.#prep('DELETE FROM schedule_state WHERE key = ?').run(key);
  }

  /** Records one fire outcome; keeps the newest {@link FIRE_RECORDS_KEPT} records of each schedule. Returns the id. */
  insertFire(record: Omit<FireRecord, 'id'>): number {
    const id = Number(
      this.#prep(
          `INSERT INTO schedule_fires (schedule, scheduled_at, recorded_at, outcome, reason, run_id, detail)
           VALUES (@schedule, @scheduled_at, @recorded_at, @outcome, @reason, @run_id, @detail)`,
        )
        .run({
          schedule: record.schedule,
          scheduled_at: record.scheduledAt,
          recorded_at: record.recordedAt,
          outcome: record.outcome,
          reason: record.reason,
          run_id: record.runId,
          detail: record.detail,
        }).lastInsertRowid,
    );
    if (id % 100 === 0) {
      this.#prep(
          `DELETE FROM schedule_fires WHERE schedule = @schedule AND id <= (
             SELECT id FROM schedule_fires WHERE schedule = @schedule ORDER BY id DESC LIMIT 1 OFFSET @keep)`,
        )
        .run({ schedule: record.schedule, keep: FIRE_RECORDS_KEPT });
    }
    return id;
  }

  /** Fire records, newest first (by fire time, then insertion). */
  listFires(query: { schedule?: string; limit?: number } = {}): FireRecord[] {
    const limit = Math.min(FIRE_RECORDS_KEPT, Math.max(1, Math.floor(query.limit ?? 100)));
    const rows = (
      query.schedule === undefined
        ? this.#prep('SELECT * FROM schedule_fires ORDER BY scheduled_at DESC, id DESC LIMIT ?').all(limit)
        : this.#prep('SELECT * FROM schedule_fires WHERE schedule = ? ORDER BY scheduled_at DESC, id DESC LIMIT ?').all(query.schedule, limit)
    ) as FireRow[];
    return rows.map((row) => ({
      id: row.id,
      schedule: row.schedule,
      scheduledAt: row.scheduled_at,
      recordedAt: row.recorded_at,
      outcome: row.outcome,
      reason: row.reason,
      runId: row.run_id,
      detail: row.detail,
    }));
  }
}

/** How many fire records are kept per schedule (older ones are pruned). */
export const FIRE_RECORDS_KEPT = 1000;

/** A game day to store. */
export type GameDayInput = ManifestInput<GameDay>;

/** A stored game day. */
export type StoredGameDay = StoredManifest<GameDay>;

/** What the scheduler keeps about one schedule between restarts. Times are epoch ms. */
export interface ScheduleState {
  /** `experiment/<name>` or `gameday/<name>`. */
  key: string;
  /** The schedule as JSON: a different one starts afresh (no missed fires of the old one are recorded). */
  spec: string;
  /** Every fire time at or before this has an outcome (fired, skipped or missed). */
  coveredUntil: number;
  lastFireAt: number | null;
  lastOutcome: string | null;
  nextFireAt: number | null;
}

interface ScheduleStateRow {
  key: string;
  spec: string;
  covered_until: number;
  last_fire_at: number | null;
  last_outcome: string | null;
  next_fire_at: number | null;
}

interface FireRow {
  id: number;
  schedule: string;
  scheduled_at: number;
  recorded_at: number;
  outcome: FireRecord['outcome'];
  reason: FireRecord['reason'];
  run_id: string | null;
  detail: string | null;
}

function scheduleStateFromRow(row: ScheduleStateRow): ScheduleState {
  return {
    key: row.key,
    spec: row.spec,
    coveredUntil: row.covered_until,
    lastFireAt: row.last_fire_at,
    lastOutcome: row.last_outcome,
    nextFireAt: row.next_fire_at,
  };
}

function prepareStatements(db: Database.Database) {
  return {
    insertRun: db.prepare(
      `INSERT INTO runs (${SUMMARY_COLUMNS}, journal)
       VALUES (@id, @experiment, @status, @reason, @dry_run, @trigger, @created_at, @started_at, @ended_at, @journal)`,
    ),
    saveRun: db.prepare(
      `INSERT INTO runs (${SUMMARY_COLUMNS}, journal)
       VALUES (@id, @experiment, @status, @reason, @dry_run, @trigger, @created_at, @started_at, @ended_at, @journal)
       ON CONFLICT (id) DO UPDATE SET experiment = excluded.experiment, status = excluded.status,
         reason = excluded.reason, dry_run = excluded.dry_run, trigger = excluded.trigger,
         created_at = excluded.created_at, started_at = excluded.started_at, ended_at = excluded.ended_at,
         journal = excluded.journal`,
    ),
    getRun: db.prepare('SELECT journal FROM runs WHERE id = ?'),
    interruptedRuns: db.prepare(
      "SELECT journal FROM runs WHERE status IN ('pending', 'running') ORDER BY created_at ASC, rowid ASC",
    ),
    getSetting: db.prepare('SELECT value FROM settings WHERE key = ?'),
    setSetting: db.prepare(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
    deleteSetting: db.prepare('DELETE FROM settings WHERE key = ?'),
  };
}

function migrate(db: Database.Database, path: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new FaultlineError(
      ErrorCode.Internal,
      `${path} has schema version ${current}, but this Faultline knows only up to ${MIGRATIONS.length}: ` +
        'it was written by a newer version; upgrade Faultline or use another --data directory',
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    const sql = MIGRATIONS[version] ?? '';
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}

function runParams(journal: RunJournal): RunParams {
  return {
    id: journal.id,
    experiment: journal.experiment,
    status: journal.status,
    reason: journal.reason,
    dry_run: journal.dryRun ? 1 : 0,
    trigger: journal.trigger,
    created_at: journal.createdAt,
    started_at: journal.startedAt,
    ended_at: journal.endedAt,
    journal: JSON.stringify(journal),
  };
}

function summaryFromRow(row: RunSummaryRow): RunSummary {
  return {
    id: row.id,
    experiment: row.experiment,
    status: row.status,
    reason: row.reason,
    dryRun: row.dry_run === 1,
    trigger: row.trigger,
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
  };
}

function manifestFromRow<M>(row: ManifestRow): StoredManifest<M> {
  return {
    name: row.name,
    source: row.source,
    format: row.format,
    origin: row.origin,
    manifest: JSON.parse(row.manifest) as M,
    updatedAt: row.updated_at,
  };
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return RUN_LIST_DEFAULT_LIMIT;
  return Math.min(RUN_LIST_MAX_LIMIT, Math.max(1, Math.floor(limit)));
}

function isSqliteError(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}
