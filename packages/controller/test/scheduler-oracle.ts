/**
 * The independent oracle of scheduler-fire-times.test.ts and scheduler-year.test.ts: scans every
 * minute of 2026 in a zone, reads the wall clock with Intl.DateTimeFormat (sv-SE layout, another
 * code path than the scheduler's), and applies the documented rules (docs/scheduling.md) to the
 * scanned minutes directly, without any notion of offsets or transitions:
 *
 * - hourly-or-faster expressions (hour field starting with `*`): an instant fires when its wall
 *   clock matches;
 * - fixed-time expressions: an instant fires when its wall clock matches and that wall-clock time has
 *   not been shown before (first occurrence); when the wall clock jumps forward past wall-clock times
 *   that never showed and one of them matches, the first instant after the jump fires (once).
 */
import type { CronExpression } from '@faultline/shared';

export const ZONES = ['America/New_York', 'Europe/Oslo', 'Australia/Melbourne', 'America/Santiago', 'Asia/Kolkata'] as const;
export const FROM = Date.UTC(2026, 0, 1);
export const TO = Date.UTC(2027, 0, 1);

/**
 * Schedules checked in every zone. The fixed times sit in or next to the gaps and overlaps of these
 * zones (02:xx in New York, Oslo and Melbourne, 00:xx and 23:xx in Santiago); the rest are
 * hourly-or-faster, with and without seconds, and day-field combinations.
 */
export const CRONS = [
  '30 2 * * *',
  '0 2 * * *',
  '0 3 * * *',
  '30 1 * * *',
  '59 1 * * *',
  '0 0 * * *',
  '30 23 * * *',
  '15 2 * * 0',
  '*/10 2 * * *',
  '0 9 * * 1-5',
  '0 12 1,15 * fri',
  '45 0 * jan-apr,sep-dec *',
  '0 * * * *',
  '*/15 * * * *',
  '30 */7 * * * *',
  '5 0 */2 * * *',
] as const;

const MINUTE = 60_000;

/** What the scan of one zone gives. */
export interface ZoneScan {
  /** UTC instants (ms) where the zone's offset changed. */
  transitions: number[];
  /** The fire times of an expression in [FROM, TO). */
  fires(cron: CronExpression): number[];
}

/** Scans every minute of 2026 in `zone`. */
export function oracle(zone: string): ZoneScan {
  const format = new Intl.DateTimeFormat('sv-SE', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const count = (TO - FROM) / MINUTE;
  // Wall clock of each scanned minute, as minutes since 1970 read as if the wall clock were UTC.
  const walls = new Float64Array(count);
  // Wall-clock fields of each scanned minute, so that matching a schedule needs no date arithmetic.
  const fields = { minute: new Uint8Array(count), hour: new Uint8Array(count), day: new Uint8Array(count), month: new Uint8Array(count), weekday: new Uint8Array(count) };
  const transitions: number[] = [];
  for (let i = 0; i < count; i++) {
    const utc = FROM + i * MINUTE;
    const text = format.format(new Date(utc));
    const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
    if (!m) throw new Error(`unexpected Intl output ${text}`);
    // The scan works on whole minutes: offsets of these zones are whole minutes and change on minute boundaries.
    if (m[6] !== '00') throw new Error(`${zone} at ${new Date(utc).toISOString()} shows seconds ${m[6]}`);
    const wall = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5])) / MINUTE;
    walls[i] = wall;
    fields.minute[i] = Number(m[5]);
    fields.hour[i] = Number(m[4]);
    fields.day[i] = Number(m[3]);
    fields.month[i] = Number(m[2]);
    // 1970-01-01 was a Thursday (4).
    fields.weekday[i] = (Math.floor(wall / 1440) + 4) % 7;
    if (i > 0 && walls[i]! - walls[i - 1]! !== 1) transitions.push(utc);
  }
  return {
    transitions,
    fires(cron) {
      const matches = minuteMatcher(cron);
      const matchesScanned = scannedMatcher(cron, fields);
      const seconds = cron.second.values;
      const out: number[] = [];
      const elapsed = cron.hour.star;
      let maxSeen = -Infinity;
      for (let i = 0; i < count; i++) {
        const utc = FROM + i * MINUTE;
        const wall = walls[i]!;
        if (elapsed) {
          if (matchesScanned(i)) for (const s of seconds) out.push(utc + s * 1000);
          continue;
        }
        let gapFire = false;
        if (wall > maxSeen + 1 && maxSeen !== -Infinity) {
          for (let skipped = maxSeen + 1; skipped < wall; skipped++) {
            if (matches(skipped)) {
              gapFire = true;
              break;
            }
          }
        }
        if (gapFire) out.push(utc);
        if (wall > maxSeen && matchesScanned(i)) {
          for (const s of seconds) if (!(gapFire && s === 0)) out.push(utc + s * 1000);
        }
        maxSeen = Math.max(maxSeen, wall);
      }
      return out;
    },
  };
}

type Fields = Record<'minute' | 'hour' | 'day' | 'month' | 'weekday', Uint8Array>;

function allowed(values: readonly number[], size: number): boolean[] {
  const out = new Array<boolean>(size).fill(false);
  for (const v of values) out[v] = true;
  return out;
}

/** Whether the i-th scanned minute's wall clock matches (seconds are handled by the caller). */
function scannedMatcher(cron: CronExpression, f: Fields): (i: number) => boolean {
  const minutes = allowed(cron.minute.values, 60);
  const hours = allowed(cron.hour.values, 24);
  const days = allowed(cron.dayOfMonth.values, 32);
  const months = allowed(cron.month.values, 13);
  const weekdays = allowed(cron.dayOfWeek.values, 7);
  const either = !cron.dayOfMonth.star && !cron.dayOfWeek.star;
  return (i) => {
    if (!minutes[f.minute[i]!] || !hours[f.hour[i]!] || !months[f.month[i]!]) return false;
    const dom = days[f.day[i]!]!;
    const dow = weekdays[f.weekday[i]!]!;
    return either ? dom || dow : dom && dow;
  };
}

/** Whether a wall-clock minute (one that may never have shown) matches minute, hour, day and month fields. */
function minuteMatcher(cron: CronExpression): (wallMinute: number) => boolean {
  const minutes = allowed(cron.minute.values, 60);
  const hours = allowed(cron.hour.values, 24);
  const days = allowed(cron.dayOfMonth.values, 32);
  const months = allowed(cron.month.values, 13);
  const weekdays = allowed(cron.dayOfWeek.values, 7);
  const either = !cron.dayOfMonth.star && !cron.dayOfWeek.star;
  return (wallMinute) => {
    const d = new Date(wallMinute * MINUTE);
    if (!minutes[d.getUTCMinutes()] || !hours[d.getUTCHours()] || !months[d.getUTCMonth() + 1]) return false;
    const dom = days[d.getUTCDate()]!;
    const dow = weekdays[d.getUTCDay()]!;
    return either ? dom || dow : dom && dow;
  };
}
