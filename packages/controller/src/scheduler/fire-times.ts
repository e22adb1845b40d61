/**
 * Fire times of schedules, computed from wall-clock fields in the schedule's own time zone.
 *
 * A time zone is a sequence of segments of constant UTC offset separated by transitions (DST
 * changes). Inside a segment, wall clock = instant + offset, so the matching instants are found with
 * plain field arithmetic; at a transition the clock jumps forward (a gap: some wall-clock times do
 * not exist) or back (an overlap: some wall-clock times happen twice). The rules (docs/scheduling.md):
 *
 * - **Fixed-time schedules** (the hour field does not start with `*`, e.g. `30 2 * * *`): each
 *   matching wall-clock time fires once. In an overlap it fires at its first occurrence only. A
 *   time that falls in a gap fires at the first instant after the gap (once, however many matching
 *   times the gap swallowed).
 * - **Hourly-or-faster schedules** (the hour field starts with `*`, e.g. `*\/15 * * * *`, `0 * * * *`):
 *   every instant whose wall clock matches fires, so in an overlap both occurrences fire and times
 *   in a gap, which never show on the clock, do not: the schedule keeps following elapsed time.
 *
 * Everything here is in whole seconds internally; the exported functions take and return epoch ms.
 */
import type { CronExpression, Schedule, Window, WallFields } from '@faultline/shared';
import { parseCron } from '@faultline/shared';

/** How far ahead {@link nextCronFire} looks before it concludes that a schedule never fires again. */
export const SEARCH_HORIZON_SECONDS = 12 * 366 * 86_400;

/** Transitions are searched for by probing offsets this often; two offset changes are never closer than this. */
const PROBE_STEP_SECONDS = 6 * 3600;
/** Transitions are computed and cached in chunks of this many seconds. */
const CHUNK_SECONDS = 366 * 86_400;

interface Transition {
  /** First second with the new offset. */
  at: number;
  before: number;
  after: number;
}

interface Zone {
  offsetAt(t: number): number;
  /** Transitions with `at` in (k*CHUNK, (k+1)*CHUNK]. */
  chunk(k: number): readonly Transition[];
}

const zones = new Map<string, Zone>();

function zone(name: string): Zone {
  let z = zones.get(name);
  if (!z) {
    z = makeZone(name);
    zones.set(name, z);
  }
  return z;
}

const WALL_RE = /^(\d{2})\/(\d{2})\/(-?\d+), (\d{2}):(\d{2}):(\d{2})$/;

function makeZone(name: string): Zone {
  // format() is several times faster than formatToParts(); the en-US layout is fixed: MM/DD/YYYY, HH:MM:SS.
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: name,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const offsetAt = (t: number): number => {
    const text = format.format(new Date(t * 1000));
    const m = WALL_RE.exec(text);
    if (!m) throw new Error(`unexpected date format from Intl for ${name}: ${text}`);
    const wall = Date.UTC(Number(m[3]), Number(m[1]) - 1, Number(m[2]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
    return wall - t;
  };
  const chunks = new Map<number, Transition[]>();
  const chunk = (k: number): readonly Transition[] => {
    let list = chunks.get(k);
    if (list) return list;
    list = [];
    const end = (k + 1) * CHUNK_SECONDS;
    let a = k * CHUNK_SECONDS;
    let offA = offsetAt(a);
    while (a < end) {
      const b = Math.min(a + PROBE_STEP_SECONDS, end);
      const offB = offsetAt(b);
      if (offB !== offA) {
        // Smallest x in (a, b] whose offset differs from offA.
        let lo = a;
        let hi = b;
        while (hi - lo > 1) {
          const mid = lo + Math.floor((hi - lo) / 2);
          if (offsetAt(mid) === offA) lo = mid;
          else hi = mid;
        }
        list.push({ at: hi, before: offA, after: offsetAt(hi) });
      }
      a = b;
      offA = offB;
    }
    chunks.set(k, list);
    return list;
  };
  return { offsetAt, chunk };
}

function chunkOf(t: number): number {
  // Chunk k holds transitions in (k*C, (k+1)*C].
  return Math.ceil(t / CHUNK_SECONDS) - 1;
}

/** The last transition at or before `t`, looking back at most two chunks. */
function lastTransition(z: Zone, t: number): Transition | undefined {
  for (let k = chunkOf(t); k >= chunkOf(t) - 2; k--) {
    const list = z.chunk(k);
    for (let i = list.length - 1; i >= 0; i--) {
      const tr = list[i]!;
      if (tr.at <= t) return tr;
    }
  }
  return undefined;
}

/** The first transition after `t` and at or before `limit`. */
function nextTransition(z: Zone, t: number, limit: number): Transition | undefined {
  for (let k = chunkOf(t + 1); k <= chunkOf(limit); k++) {
    for (const tr of z.chunk(k)) {
      if (tr.at > t && tr.at <= limit) return tr;
      if (tr.at > limit) return undefined;
    }
  }
  return undefined;
}

/** Wall-clock fields of an instant in a zone. */
export function wallFields(zoneName: string, epochMs: number): WallFields {
  const t = Math.floor(epochMs / 1000);
  return naiveFields(t + zone(zoneName).offsetAt(t));
}

/** Fields of a "naive" wall-clock second count (wall clock read as if it were UTC). */
function naiveFields(wall: number): WallFields {
  const d = new Date(wall * 1000);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    weekday: d.getUTCDay(),
  };
}

/** The first value of a sorted list that is >= `value`, or undefined. */
function firstAtLeast(values: readonly number[], value: number): number | undefined {
  for (const v of values) if (v >= value) return v;
  return undefined;
}

/**
 * The smallest naive wall-clock second in [`from`, `to`] that matches the expression, or undefined.
 * Pure field arithmetic, no time zone.
 */
export function nextMatchingWall(cron: CronExpression, from: number, to: number): number | undefined {
  let t = from;
  while (t <= to) {
    const d = new Date(t * 1000);
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth() + 1;
    const day = d.getUTCDate();
    const hour = d.getUTCHours();
    const minute = d.getUTCMinutes();
    const second = d.getUTCSeconds();
    if (!cron.month.values.includes(month)) {
      const nextMonth = firstAtLeast(cron.month.values, month + 1);
      t = nextMonth === undefined ? Date.UTC(year + 1, (cron.month.values[0] ?? 1) - 1, 1) / 1000 : Date.UTC(year, nextMonth - 1, 1) / 1000;
      continue;
    }
    if (!cronDay(cron, day, d.getUTCDay())) {
      t = Date.UTC(year, month - 1, day + 1) / 1000;
      continue;
    }
    if (!cron.hour.values.includes(hour)) {
      const h = firstAtLeast(cron.hour.values, hour + 1);
      t = h === undefined ? Date.UTC(year, month - 1, day + 1) / 1000 : Date.UTC(year, month - 1, day, h) / 1000;
      continue;
    }
    if (!cron.minute.values.includes(minute)) {
      const m = firstAtLeast(cron.minute.values, minute + 1);
      t = m === undefined ? Date.UTC(year, month - 1, day, hour + 1) / 1000 : Date.UTC(year, month - 1, day, hour, m) / 1000;
      continue;
    }
    if (!cron.second.values.includes(second)) {
      const s = firstAtLeast(cron.second.values, second + 1);
      t = s === undefined ? Date.UTC(year, month - 1, day, hour, minute + 1) / 1000 : Date.UTC(year, month - 1, day, hour, minute, s) / 1000;
      continue;
    }
    return t;
  }
  return undefined;
}

function cronDay(cron: CronExpression, day: number, weekday: number): boolean {
  const domOk = cron.dayOfMonth.values.includes(day);
  const dowOk = cron.dayOfWeek.values.includes(weekday);
  return !cron.dayOfMonth.star && !cron.dayOfWeek.star ? domOk || dowOk : domOk && dowOk;
}

/** True when the schedule follows elapsed time across DST changes (its hour field starts with `*`). */
export function followsElapsedTime(cron: CronExpression): boolean {
  return cron.hour.star;
}

/**
 * The first fire time of `cron` in `zoneName` strictly after `afterMs` (epoch ms), or null when there
 * is none within {@link SEARCH_HORIZON_SECONDS}. Fire times are whole seconds. See the module comment
 * for what happens at DST changes.
 */
export function nextCronFire(cron: CronExpression, zoneName: string, afterMs: number): number | null {
  const z = zone(zoneName);
  const tmin = Math.floor(afterMs / 1000) + 1;
  const limit = tmin + SEARCH_HORIZON_SECONDS;
  const elapsed = followsElapsedTime(cron);
  // The segment holding tmin.
  const last = lastTransition(z, tmin);
  let start: number | undefined = last?.at;
  let offset = z.offsetAt(tmin);
  let prevOffset = last?.before ?? offset;
  let end = nextTransition(z, tmin, limit)?.at;
  for (;;) {
    const segEnd = end ?? limit + 1;
    if (!elapsed && start !== undefined && start >= tmin && prevOffset < offset) {
      // A gap: wall-clock times [start + prevOffset, start + offset) never showed. A match among them fires now.
      if (nextMatchingWall(cron, start + prevOffset, start + offset - 1) !== undefined) return start * 1000;
    }
    let low = Math.max(tmin, start ?? tmin) + offset;
    // An overlap: wall-clock times before start + prevOffset showed already, in the previous segment.
    if (!elapsed && start !== undefined && prevOffset > offset) low = Math.max(low, start + prevOffset);
    const wall = nextMatchingWall(cron, low, segEnd - 1 + offset);
    if (wall !== undefined) return (wall - offset) * 1000;
    if (end === undefined) return null;
    start = end;
    prevOffset = offset;
    offset = z.offsetAt(end);
    end = nextTransition(z, end, limit)?.at;
  }
}

/** A schedule with its cron expression parsed once. */
export type CompiledSchedule = { kind: 'cron'; cron: CronExpression; timezone: string } | { kind: 'at'; at: number };

/**
 * Compiles a validated schedule.
 * @throws Error when the cron expression does not parse (validated manifests always do).
 */
export function compileSchedule(schedule: Schedule): CompiledSchedule {
  if ('at' in schedule) return { kind: 'at', at: Date.parse(schedule.at) };
  const parsed = parseCron(schedule.cron);
  if (!parsed.ok) throw new Error(`invalid cron expression ${JSON.stringify(schedule.cron)}: ${parsed.message}`);
  return { kind: 'cron', cron: parsed.cron, timezone: schedule.timezone };
}

/** The first fire time strictly after `afterMs`, or null when the schedule never fires again. */
export function nextFire(schedule: CompiledSchedule, afterMs: number): number | null {
  if (schedule.kind === 'at') return schedule.at > afterMs ? schedule.at : null;
  return nextCronFire(schedule.cron, schedule.timezone, afterMs);
}

/** Up to `count` fire times strictly after `afterMs`, in order. */
export function nextFires(schedule: CompiledSchedule, afterMs: number, count: number): number[] {
  const out: number[] = [];
  let after = afterMs;
  while (out.length < count) {
    const next = nextFire(schedule, after);
    if (next === null) break;
    out.push(next);
    after = next;
  }
  return out;
}

/** The zone a schedule's window is read in: its own, or UTC for `at`. */
export function scheduleZone(schedule: CompiledSchedule): string {
  return schedule.kind === 'cron' ? schedule.timezone : 'UTC';
}

const WEEKDAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** Whether an instant lies inside a window (days, and `start` ≤ HH:MM < `end`) in the given zone. */
export function insideWindow(window: Window, zoneName: string, epochMs: number): boolean {
  const f = wallFields(zoneName, epochMs);
  if (window.days && !window.days.includes(WEEKDAY_NAMES[f.weekday]!)) return false;
  const hhmm = `${String(f.hour).padStart(2, '0')}:${String(f.minute).padStart(2, '0')}`;
  return hhmm >= window.start && hhmm < window.end;
}
