/**
 * A simulated year (2026) in five zones, every DST change included, checked against an independent
 * oracle (scheduler-oracle.ts: a brute-force scan of every minute of the year that reads the wall
 * clock with Intl.DateTimeFormat and applies the documented DST rules directly):
 *
 * 1. the fire-time function: every fire time of 16 schedules, in order;
 * 2. the real Scheduler (real SQLite store, real timer code) under vitest fake timers: every fire the
 *    oracle expects happens exactly once (zero missed, zero duplicated), never before its fire time
 *    and never a second or more after it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseCron, type CronExpression } from '@faultline/shared';
import { nextCronFire } from '../src/scheduler/fire-times.js';
import { CRONS, FROM, TO, ZONES, oracle } from './scheduler-oracle.js';
import { makeScheduler, putScheduledExperiment, RecordingTarget, tempStore } from './scheduler-helpers.js';

/**
 * The schedules also run through the timers: the fixed times around every gap and overlap, weekday
 * and day-field combinations, an hourly one and a 6-field one. (The denser every-15-minutes and
 * every-7-minutes schedules are checked through the fire-time function only, to keep the test short.)
 */
const SIMULATED = ['30 2 * * *', '0 2 * * *', '0 3 * * *', '30 1 * * *', '59 1 * * *', '0 0 * * *', '30 23 * * *', '15 2 * * 0', '*/10 2 * * *', '0 9 * * 1-5', '0 12 1,15 * fri', '0 * * * *', '5 0 */2 * * *'] as const;

afterEach(() => {
  vi.useRealTimers();
});

function compile(text: string): CronExpression {
  const parsed = parseCron(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.cron;
}

function computed(cron: CronExpression, zone: string): number[] {
  const out: number[] = [];
  let t = FROM - 1;
  for (;;) {
    const next = nextCronFire(cron, zone, t);
    if (next === null || next >= TO) return out;
    out.push(next);
    t = next;
  }
}

/** Null when both lists are equal, else where they first differ, as ISO times (large lists: no deep-equality diff). */
function firstDifference(actual: readonly number[], expected: readonly number[]): string | null {
  const show = (t: number | undefined) => (t === undefined ? 'nothing' : new Date(t).toISOString());
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    if (actual[i] !== expected[i]) return `fire #${i}: computed ${show(actual[i])}, oracle ${show(expected[i])}`;
  }
  return null;
}

const checked = { fireTimes: 0, timerFires: 0 };

describe('a simulated year against a brute-force oracle', () => {
  for (const zone of ZONES) {
    it(`${zone}: fire times match the oracle; the Scheduler fires each once, none early, none a second late`, () => {
      const scan = oracle(zone);
      // The year holds every DST change of the zone: two where DST is observed, none in Kolkata.
      expect(scan.transitions).toHaveLength(zone === 'Asia/Kolkata' ? 0 : 2);
      const expected = new Map(CRONS.map((text) => [text, scan.fires(compile(text))]));

      for (const text of CRONS) {
        const want = expected.get(text)!;
        expect(firstDifference(computed(compile(text), zone), want), `${text} in ${zone}`).toBeNull();
        checked.fireTimes += want.length;
      }

      using temp = tempStore();
      const { store } = temp;
      SIMULATED.forEach((cron, index) => {
        putScheduledExperiment(store, `s${index}`, `schedule: {cron: "${cron}", timezone: ${zone}}\nconcurrency: allow`);
      });
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: FROM - 1 });
      const target = new RecordingTarget();
      // One-hour timer slices keep the year at ~9000 extra wake-ups; the production default (60 s)
      // only changes how often the clock is re-read between fires.
      const scheduler = makeScheduler(store, target, { maxTimerMs: 3_600_000 });
      scheduler.start();
      vi.advanceTimersByTime(TO - 1 - Date.now());
      scheduler.stop();
      vi.useRealTimers();

      SIMULATED.forEach((text, index) => {
        const want = expected.get(text)!;
        const fired = target.of(`s${index}`);
        const wantSet = new Set(want);
        const seen = new Set<number>();
        const unexpected = fired.filter((f) => {
          const bad = !wantSet.has(f.at) || seen.has(f.at);
          seen.add(f.at);
          return bad;
        });
        const missed = want.filter((t) => !seen.has(t));
        expect({ missed: missed.map(isoOf), duplicatedOrUnexpected: unexpected.map((f) => isoOf(f.at)) }, `${text} in ${zone}`).toEqual({
          missed: [],
          duplicatedOrUnexpected: [],
        });
        expect(firstDifference(fired.map((f) => f.at), want)).toBeNull();
        const early = fired.filter((f) => f.now < f.at).length;
        const late = fired.filter((f) => f.now - f.at >= 1000).length;
        expect({ early, late }, `${text} in ${zone}`).toEqual({ early: 0, late: 0 });
        checked.timerFires += want.length;
      });
      // Every outcome recorded was a fire: nothing skipped or missed.
      expect(store.listFires({ limit: 1000 }).filter((f) => f.outcome !== 'fired')).toEqual([]);
    }, 120_000);
  }

  it('counted what it checked', () => {
    process.stdout.write(
      `year simulation: ${checked.fireTimes} fire times of ${CRONS.length} schedules checked against the oracle, ` +
        `${checked.timerFires} of them fired through the Scheduler's timers, in ${ZONES.length} zones over 2026\n`,
    );
    expect(checked.fireTimes).toBeGreaterThan(600_000);
    expect(checked.timerFires).toBeGreaterThan(90_000);
  });
});

function isoOf(t: number): string {
  return new Date(t).toISOString();
}
