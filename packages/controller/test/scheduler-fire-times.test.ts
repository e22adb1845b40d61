/**
 * The documented DST behaviour of fire times, case by case (the whole-year check against the oracle
 * is in scheduler-year.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { parseCron, type CronExpression } from '@faultline/shared';
import { nextCronFire } from '../src/scheduler/fire-times.js';

function compile(text: string): CronExpression {
  const parsed = parseCron(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.cron;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

describe('documented DST behaviour', () => {
  it('a fixed time inside a spring-forward gap fires once, at the first instant after the gap', () => {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z).
    const cron = compile('30 2 * * *');
    expect(iso(nextCronFire(cron, 'America/New_York', Date.parse('2026-03-07T12:00:00Z')))).toBe('2026-03-08T07:00:00.000Z');
    expect(iso(nextCronFire(cron, 'America/New_York', Date.parse('2026-03-08T07:00:00Z')))).toBe('2026-03-09T06:30:00.000Z');
    // Many matching times in one gap still fire once.
    const everyMinuteAt2 = compile('* 2 * * *');
    expect(iso(nextCronFire(everyMinuteAt2, 'America/New_York', Date.parse('2026-03-08T06:59:00Z')))).toBe('2026-03-08T07:00:00.000Z');
    expect(iso(nextCronFire(everyMinuteAt2, 'America/New_York', Date.parse('2026-03-08T07:00:00Z')))).toBe('2026-03-09T06:00:00.000Z');
    // Santiago, 2026-09-06: midnight does not exist (00:00 -04 jumps to 01:00 -03, 04:00Z).
    expect(iso(nextCronFire(compile('0 0 * * *'), 'America/Santiago', Date.parse('2026-09-05T12:00:00Z')))).toBe('2026-09-06T04:00:00.000Z');
    // Melbourne, 2026-10-04: 02:00 AEST jumps to 03:00 AEDT (16:00Z the day before).
    expect(iso(nextCronFire(cron, 'Australia/Melbourne', Date.parse('2026-10-03T00:00:00Z')))).toBe('2026-10-03T16:00:00.000Z');
  });

  it('a fixed time that occurs twice on a fall-back day fires once, at its first occurrence', () => {
    // New York, 2026-11-01: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    const cron = compile('30 1 * * *');
    expect(iso(nextCronFire(cron, 'America/New_York', Date.parse('2026-10-31T12:00:00Z')))).toBe('2026-11-01T05:30:00.000Z');
    expect(iso(nextCronFire(cron, 'America/New_York', Date.parse('2026-11-01T05:30:00Z')))).toBe('2026-11-02T06:30:00.000Z');
    // Asked from inside the repeated hour, the repeated time does not fire again.
    expect(iso(nextCronFire(cron, 'America/New_York', Date.parse('2026-11-01T06:10:00Z')))).toBe('2026-11-02T06:30:00.000Z');
    // Santiago, 2026-04-05: midnight falls back to 23:00 on the 4th; 23:30 happens at 02:30Z and 03:30Z.
    expect(iso(nextCronFire(compile('30 23 * * *'), 'America/Santiago', Date.parse('2026-04-04T12:00:00Z')))).toBe('2026-04-05T02:30:00.000Z');
    // The next day is on standard time (-04): 23:30 is 03:30Z.
    expect(iso(nextCronFire(compile('30 23 * * *'), 'America/Santiago', Date.parse('2026-04-05T02:30:00Z')))).toBe('2026-04-06T03:30:00.000Z');
  });

  it('an hourly-or-faster schedule follows elapsed time: both occurrences of a repeated hour fire, a skipped hour does not', () => {
    const cron = compile('*/30 * * * *');
    const fires: (string | null)[] = [];
    let t = Date.parse('2026-11-01T04:50:00Z');
    for (let i = 0; i < 5; i++) {
      const next = nextCronFire(cron, 'America/New_York', t)!;
      fires.push(iso(next));
      t = next;
    }
    expect(fires).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-01T06:00:00.000Z', '2026-11-01T06:30:00.000Z', '2026-11-01T07:00:00.000Z']);
    // Spring forward: 01:30 EST, then 03:00 EDT: 30 minutes of real time, nothing for the missing hour.
    expect(iso(nextCronFire(cron, 'America/New_York', Date.parse('2026-03-08T06:30:00Z')))).toBe('2026-03-08T07:00:00.000Z');
  });

  it('6-field expressions fire on seconds; at a zone without DST nothing special happens', () => {
    const cron = compile('*/20 * * * * *');
    expect(iso(nextCronFire(cron, 'Asia/Kolkata', Date.parse('2026-01-01T00:00:00Z')))).toBe('2026-01-01T00:00:20.000Z');
    expect(iso(nextCronFire(cron, 'Asia/Kolkata', Date.parse('2026-01-01T00:00:19.999Z')))).toBe('2026-01-01T00:00:20.000Z');
    expect(iso(nextCronFire(cron, 'Asia/Kolkata', Date.parse('2026-01-01T00:00:40.001Z')))).toBe('2026-01-01T00:01:00.000Z');
  });

  it('rare schedules: February 29 only, and the standard either-day rule', () => {
    expect(iso(nextCronFire(compile('0 12 29 2 *'), 'Europe/Oslo', Date.parse('2026-01-01T00:00:00Z')))).toBe('2028-02-29T11:00:00.000Z');
    // Day 13 or a Friday (both day fields restricted): Friday 2026-01-02 comes first.
    expect(iso(nextCronFire(compile('0 0 13 * 5'), 'UTC', Date.parse('2026-01-01T00:00:00Z')))).toBe('2026-01-02T00:00:00.000Z');
    expect(iso(nextCronFire(compile('0 0 13 * *'), 'UTC', Date.parse('2026-01-01T00:00:00Z')))).toBe('2026-01-13T00:00:00.000Z');
  });
});
