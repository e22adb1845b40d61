import { describe, expect, it } from 'vitest';
import { cronMatches, parseCron, parseManifest, timeZoneError } from '../src/index.js';

function message(text: string): string {
  const parsed = parseCron(text);
  if (parsed.ok) throw new Error(`expected ${text} to be invalid`);
  return parsed.message;
}

describe('parseCron', () => {
  it('reads 5 and 6 fields, names, ranges, steps, lists and shorthands', () => {
    const five = parseCron('*/15 9-17 * jan,jul mon-fri');
    expect(five.ok && five.cron).toMatchObject({
      hasSeconds: false,
      second: { values: [0] },
      minute: { values: [0, 15, 30, 45], star: true },
      hour: { values: [9, 10, 11, 12, 13, 14, 15, 16, 17], star: false },
      month: { values: [1, 7] },
      dayOfWeek: { values: [1, 2, 3, 4, 5], star: false },
    });
    const six = parseCron('30 5/20 * * * 7');
    expect(six.ok && six.cron).toMatchObject({ hasSeconds: true, second: { values: [30] }, minute: { values: [5, 25, 45] }, dayOfWeek: { values: [0] } });
    const daily = parseCron('@daily');
    expect(daily.ok && daily.cron.hour.values).toEqual([0]);
  });

  it('names the field, the value and the allowed range in every error', () => {
    expect(message('0 25 * * *')).toBe('hour field "25": 25 is out of range 0-23');
    expect(message('60 * * * * *')).toBe('second field "60": 60 is out of range 0-59');
    expect(message('* * 0 * *')).toBe('day-of-month field "0": 0 is out of range 1-31');
    expect(message('* * * 13 *')).toBe('month field "13": 13 is out of range 1-12');
    expect(message('* * * * 8')).toBe('day-of-week field "8": 8 is out of range 0-7');
    expect(message('* * * * fry')).toMatch(/^day-of-week field "fry": unknown day name "fry"; use sun-sat or 0-7$/);
    expect(message('*/0 * * * *')).toBe('minute field "*/0": step must be at least 1');
    expect(message('5-1 * * * *')).toMatch(/minute field "5-1": range 5-1 goes backwards/);
    expect(message('1,,2 * * * *')).toMatch(/empty list item/);
    expect(message('* * *')).toMatch(/has 3 field\(s\); expected 5 .* or 6 \(seconds first\)/);
    expect(message('@sometimes')).toMatch(/unknown cron shorthand "@sometimes"/);
    expect(message('0 0 30 2 *')).toMatch(/day 30 never occurs in feb: this schedule would never fire/);
    expect(message('')).toMatch(/empty cron expression/);
  });

  it('matches fields with the standard rule for two restricted day fields', () => {
    const parsed = parseCron('0 0 13 * fri');
    if (!parsed.ok) throw new Error(parsed.message);
    const at = (day: number, weekday: number) => cronMatches(parsed.cron, { year: 2026, month: 3, day, hour: 0, minute: 0, second: 0, weekday });
    expect(at(13, 2)).toBe(true); // the 13th, a Tuesday
    expect(at(6, 5)).toBe(true); // a Friday
    expect(at(7, 6)).toBe(false);
  });
});

describe('schedules in manifests', () => {
  it('accepts IANA zones and rejects unknown ones', () => {
    expect(timeZoneError('Europe/Oslo')).toBeUndefined();
    expect(timeZoneError('UTC')).toBeUndefined();
    expect(timeZoneError('Europe/Olso')).toMatch(/unknown time zone "Europe\/Olso"/);
  });

  it('reports cron, zone and window problems with the field path and position', () => {
    const result = parseManifest(`apiVersion: faultline/v1
kind: Experiment
metadata: {name: x}
spec:
  targets: {web: {containers: {}}}
  method: [{pause: 1s}]
  schedule:
    cron: "0 9 * * mon-fry"
    timezone: America/New_Yrok
  window: {start: "17:00", end: "09:00"}
`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => [i.path, i.line, i.column])).toEqual([
      ['spec.schedule.cron', 8, 11],
      ['spec.schedule.timezone', 9, 15],
      ['spec.window.end', 10, 33],
    ]);
    expect(result.issues[0]?.message).toMatch(/day-of-week field "mon-fry": unknown day name "fry"/);
  });

  it('accepts a one-off time and a game day with window and concurrency', () => {
    const result = parseManifest(`apiVersion: faultline/v1
kind: GameDay
metadata: {name: drill}
spec:
  schedule: {at: "2026-12-01T14:00:00+01:00"}
  window: {start: "09:00", end: "17:00", days: [tue]}
  experiments: [a, b]
  concurrency: allow
`);
    expect(result.ok).toBe(true);
  });
});
