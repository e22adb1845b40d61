/** The Scheduler's bookkeeping with fake timers and a real store: restarts, late timers, windows, halts, concurrency, one-offs. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeScheduler, putScheduledExperiment, RecordingTarget, tempStore } from './scheduler-helpers.js';

const T0 = Date.parse('2026-06-01T10:00:00Z'); // a Monday

afterEach(() => {
  vi.useRealTimers();
});

function fake(now: number): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now });
}

describe('Scheduler', () => {
  it('records fire times missed while the controller was down, runs none of them, and goes on from now', () => {
    using temp = tempStore();
    putScheduledExperiment(temp.store, 'every-ten', 'schedule: {cron: "*/10 * * * * *"}');
    fake(T0);
    const target = new RecordingTarget();
    const first = makeScheduler(temp.store, target);
    first.start();
    vi.advanceTimersByTime(30_000);
    expect(target.started.map((s) => s.at - T0)).toEqual([10_000, 20_000, 30_000]);
    first.stop();
    temp.reopen();

    // Down for 65 s: fire times at +40 s ... +90 s pass unseen.
    vi.setSystemTime(T0 + 95_000);
    const second = makeScheduler(temp.store, target);
    second.start();
    const missed = temp.store.listFires({ schedule: 'experiment/every-ten' }).filter((f) => f.outcome === 'missed');
    expect(missed.map((f) => f.scheduledAt - T0).sort((a, b) => a - b)).toEqual([40_000, 50_000, 60_000, 70_000, 80_000, 90_000]);
    expect(missed.every((f) => f.reason === 'down')).toBe(true);
    // No burst: nothing started at start-up; the next fire is the first one after now.
    expect(target.started).toHaveLength(3);
    expect(second.nextFire('experiment', 'every-ten')).toBe(T0 + 100_000);
    vi.advanceTimersByTime(25_000);
    expect(target.started.map((s) => s.at - T0)).toEqual([10_000, 20_000, 30_000, 100_000, 110_000, 120_000]);
    const state = temp.store.getScheduleState('experiment/every-ten');
    expect(state).toMatchObject({ lastFireAt: T0 + 120_000, lastOutcome: 'fired', nextFireAt: T0 + 130_000 });
    second.stop();
  });

  it('caps the missed records of a long outage and summarises the rest', () => {
    using temp = tempStore();
    putScheduledExperiment(temp.store, 'every-second', 'schedule: {cron: "* * * * * *"}');
    fake(T0);
    const target = new RecordingTarget();
    const first = makeScheduler(temp.store, target, { missedRecordLimit: 5 });
    first.start();
    first.stop();
    vi.setSystemTime(T0 + 3_600_000);
    const second = makeScheduler(temp.store, target, { missedRecordLimit: 5 });
    second.start();
    const fires = temp.store.listFires({ schedule: 'experiment/every-second' });
    expect(fires).toHaveLength(6);
    expect(fires.every((f) => f.outcome === 'missed')).toBe(true);
    expect(fires[0]?.detail).toMatch(/more fire times .* only the first 5 are listed/);
    expect(target.started).toEqual([]);
    second.stop();
  });

  it('never fires early: a clock that steps back re-arms instead of firing', () => {
    using temp = tempStore();
    putScheduledExperiment(temp.store, 'minutely', 'schedule: {cron: "* * * * *"}');
    fake(T0 + 1000);
    const target = new RecordingTarget();
    const scheduler = makeScheduler(temp.store, target);
    scheduler.start();
    // The wall clock steps back 30 s (e.g. NTP); the armed timer still goes off 59 s later.
    vi.setSystemTime(T0 - 29_000);
    vi.advanceTimersByTime(59_000);
    expect(target.started).toEqual([]);
    vi.advanceTimersByTime(31_000);
    expect(target.started).toHaveLength(1);
    expect(target.started[0]!.now).toBeGreaterThanOrEqual(target.started[0]!.at);
    expect(target.started[0]!.now - target.started[0]!.at).toBeLessThan(1000);
    scheduler.stop();
  });

  it('a late timer fires once, not a burst: the swallowed fire times are recorded missed', () => {
    using temp = tempStore();
    putScheduledExperiment(temp.store, 'every-five', 'schedule: {cron: "*/5 * * * * *"}');
    fake(T0);
    const target = new RecordingTarget();
    const scheduler = makeScheduler(temp.store, target);
    scheduler.start();
    // The process is frozen for 17 s (suspend, blocked event loop): the clock jumps, timers wake late.
    vi.setSystemTime(T0 + 17_000);
    vi.advanceTimersByTime(5_000);
    expect(target.started.map((s) => s.at - T0)).toEqual([20_000]);
    const fires = temp.store.listFires({ schedule: 'experiment/every-five' });
    expect(fires.filter((f) => f.outcome === 'missed').map((f) => [f.scheduledAt - T0, f.reason])).toEqual([
      [15_000, 'late'],
      [10_000, 'late'],
      [5_000, 'late'],
    ]);
    scheduler.stop();
  });

  it('a timer that wakes later than the grace records the fire missed instead of running it', () => {
    using temp = tempStore();
    putScheduledExperiment(temp.store, 'hourly', 'schedule: {cron: "0 * * * *"}');
    fake(T0 + 1);
    const target = new RecordingTarget();
    const scheduler = makeScheduler(temp.store, target);
    scheduler.start();
    // At 10:59:29 the wall clock jumps 11 minutes (suspended host): the timer armed for 11:00 wakes at 11:11.
    vi.advanceTimersByTime(3_569_000);
    vi.setSystemTime(T0 + 4_229_000);
    vi.advanceTimersByTime(31_000);
    expect(target.started).toEqual([]);
    expect(temp.store.listFires({ schedule: 'experiment/hourly' }).map((f) => [f.scheduledAt - T0, f.outcome, f.reason])).toEqual([[3_600_000, 'missed', 'late']]);
    expect(scheduler.nextFire('experiment', 'hourly')).toBe(T0 + 7_200_000);
    scheduler.stop();
  });

  it('skips fires outside the window (in the schedule zone), during a halt, and while busy with forbid; records each', () => {
    using temp = tempStore();
    // Oslo is UTC+2 in June: the window 12:00-12:03 Oslo is 10:00-10:03Z on Mondays.
    putScheduledExperiment(temp.store, 'windowed', 'schedule: {cron: "* * * * *", timezone: Europe/Oslo}\nwindow: {start: "12:01", end: "12:03", days: [mon]}');
    putScheduledExperiment(temp.store, 'forbid', 'schedule: {cron: "* * * * *"}');
    putScheduledExperiment(temp.store, 'allow', 'schedule: {cron: "* * * * *"}\nconcurrency: allow');
    fake(T0 + 1);
    const target = new RecordingTarget();
    const scheduler = makeScheduler(temp.store, target);
    scheduler.start();
    target.busyNames.add('forbid');
    target.busyNames.add('allow');
    vi.advanceTimersByTime(60_000); // 10:01Z
    target.halt = true;
    vi.advanceTimersByTime(60_000); // 10:02Z
    target.halt = false;
    target.busyNames.clear();
    vi.advanceTimersByTime(120_000); // 10:03Z, 10:04Z
    const outcomes = (name: string) =>
      temp.store
        .listFires({ schedule: `experiment/${name}` })
        .reverse()
        .map((f) => `${new Date(f.scheduledAt).toISOString().slice(11, 16)} ${f.outcome}${f.reason ? `: ${f.reason}` : ''}`);
    expect(outcomes('windowed')).toEqual(['10:01 fired', '10:02 skipped: halted', '10:03 skipped: window', '10:04 skipped: window']);
    expect(outcomes('forbid')).toEqual(['10:01 skipped: concurrency', '10:02 skipped: halted', '10:03 fired', '10:04 fired']);
    expect(outcomes('allow')).toEqual(['10:01 fired', '10:02 skipped: halted', '10:03 fired', '10:04 fired']);
    // The view lists the next fire times, marked with whether the window lets them run.
    const view = scheduler.get('experiment', 'windowed', 3)!;
    expect(view.timezone).toBe('Europe/Oslo');
    expect(view.upcoming.map((u) => u.insideWindow)).toEqual([false, false, false]);
    expect(view.lastFire).toMatchObject({ outcome: 'skipped', reason: 'window' });
    scheduler.stop();
  });

  it('one-off `at`: fires once; missed when the controller was down; a past one on a new schedule does nothing', () => {
    using temp = tempStore();
    putScheduledExperiment(temp.store, 'once', `schedule: {at: "${new Date(T0 + 30_000).toISOString()}"}`);
    putScheduledExperiment(temp.store, 'missed-once', `schedule: {at: "${new Date(T0 + 40_000).toISOString()}"}`);
    putScheduledExperiment(temp.store, 'past', `schedule: {at: "${new Date(T0 - 40_000).toISOString()}"}`);
    fake(T0);
    const target = new RecordingTarget();
    const first = makeScheduler(temp.store, target);
    first.start();
    expect(first.nextFire('experiment', 'past')).toBeNull();
    vi.advanceTimersByTime(35_000);
    first.stop();
    vi.setSystemTime(T0 + 60_000);
    const second = makeScheduler(temp.store, target);
    second.start();
    vi.advanceTimersByTime(60_000);
    expect(target.started.map((s) => s.name)).toEqual(['once']);
    expect(temp.store.listFires({ schedule: 'experiment/missed-once' }).map((f) => [f.outcome, f.reason])).toEqual([['missed', 'down']]);
    expect(temp.store.listFires({ schedule: 'experiment/past' })).toEqual([]);
    expect(second.nextFire('experiment', 'once')).toBeNull();
    second.stop();
  });

  it('follows manifest changes: a new schedule arms, a changed one starts afresh, a removed one disarms', () => {
    using temp = tempStore();
    fake(T0 + 1);
    const target = new RecordingTarget();
    const scheduler = makeScheduler(temp.store, target);
    scheduler.start();
    expect(scheduler.list()).toEqual([]);
    putScheduledExperiment(temp.store, 'late-comer', 'schedule: {cron: "* * * * *"}');
    expect(scheduler.nextFire('experiment', 'late-comer')).toBe(T0 + 60_000);
    putScheduledExperiment(temp.store, 'late-comer', 'schedule: {cron: "*/2 * * * *"}');
    expect(scheduler.nextFire('experiment', 'late-comer')).toBe(T0 + 120_000);
    vi.advanceTimersByTime(120_000);
    expect(target.started).toHaveLength(1);
    temp.store.deleteExperiment('late-comer');
    expect(scheduler.list()).toEqual([]);
    expect(temp.store.getScheduleState('experiment/late-comer')).toBeUndefined();
    vi.advanceTimersByTime(600_000);
    expect(target.started).toHaveLength(1);
    scheduler.stop();
  });

  it('a schedule changed while the controller was down records no missed fires of the old one', () => {
    using temp = tempStore();
    putScheduledExperiment(temp.store, 'changing', 'schedule: {cron: "*/10 * * * * *"}');
    fake(T0);
    const target = new RecordingTarget();
    const first = makeScheduler(temp.store, target);
    first.start();
    first.stop();
    putScheduledExperiment(temp.store, 'changing', 'schedule: {cron: "*/15 * * * * *"}');
    vi.setSystemTime(T0 + 60_000);
    const second = makeScheduler(temp.store, target);
    second.start();
    expect(temp.store.listFires({ schedule: 'experiment/changing' })).toEqual([]);
    expect(second.nextFire('experiment', 'changing')).toBe(T0 + 75_000);
    second.stop();
  });

  it('stop() disarms: no fire after it', () => {
    using temp = tempStore();
    putScheduledExperiment(temp.store, 'stopped', 'schedule: {cron: "* * * * * *"}');
    fake(T0);
    const target = new RecordingTarget();
    const scheduler = makeScheduler(temp.store, target);
    scheduler.start();
    vi.advanceTimersByTime(2_000);
    scheduler.stop();
    scheduler.stop();
    vi.advanceTimersByTime(10_000);
    expect(target.started).toHaveLength(2);
    expect(scheduler.state).toBe('stopped');
  });
});
