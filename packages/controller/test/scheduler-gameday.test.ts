/**
 * Game days and the schedule routes in an in-process controller (no agents: the experiments pause,
 * and a fake probe runner decides which steady-state checks fail), plus the CLI's schedule listing,
 * game-day report and validate's cross-file check.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { GameDayRun, Probe, ProbePhase, ProbeResult, ScheduleView } from '@faultline/shared';
import { createController, type Controller } from '../src/app.js';
import { runCli, type CliIo } from '../src/cli/index.js';
import { renderGameDayReport } from '../src/cli/gameday-report.js';
import { renderSchedules, zoneTime } from '../src/cli/schedule.js';
import { silentLog } from './scheduler-helpers.js';

const TOKEN = 'test-token';
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-gameday-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Probes named `breaks` fail during the method; every other probe passes. */
async function fakeProbe(probe: Probe, phase: ProbePhase): Promise<ProbeResult> {
  const ok = !(probe.name === 'breaks' && phase === 'during');
  await new Promise((resolve) => setTimeout(resolve, 5));
  return { probe: probe.name, type: probe.type, phase, ok, at: Date.now(), durationMs: 5, from: 'controller', output: ok ? 'fine' : 'too slow', ...(ok ? {} : { error: 'too slow' }) };
}

async function controller(): Promise<Controller> {
  const c = await createController({ port: 0, dataDir: tempDir(), apiToken: TOKEN, agentToken: 'agent', logger: silentLog, runProbe: fakeProbe });
  cleanups.push(() => c.close());
  await c.listen();
  return c;
}

async function api<T = unknown>(c: Controller, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: string): Promise<{ status: number; body: T }> {
  const response = await c.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': method === 'PUT' ? 'application/yaml' : 'application/json' },
    ...(body === undefined ? {} : { payload: body }),
  });
  return { status: response.statusCode, body: (response.body ? JSON.parse(response.body) : undefined) as T };
}

function experiment(name: string, probe: 'holds' | 'breaks', extra = ''): string {
  return `apiVersion: faultline/v1
kind: Experiment
metadata: {name: ${name}}
spec:
  targets: {web: {containers: {labels: {app: web}}}}
  steadyState:
    probes:
      - {name: ${probe}, type: tcp, host: 127.0.0.1, port: 9, when: [before, during, after], interval: 20ms}
  method: [{pause: 150ms}]
${extra}`;
}

function gameday(name: string, experiments: string[], extra = ''): string {
  return `apiVersion: faultline/v1
kind: GameDay
metadata: {name: ${name}}
spec:
  experiments: [${experiments.join(', ')}]
${extra}`;
}

async function setup(c: Controller): Promise<void> {
  for (const [name, probe] of [
    ['first', 'holds'],
    ['second', 'breaks'],
    ['third', 'holds'],
  ] as const) {
    expect((await api(c, 'PUT', `/api/v1/experiments/${name}`, experiment(name, probe))).status).toBe(201);
  }
}

async function runToEnd(c: Controller, name: string, body = '{}'): Promise<GameDayRun> {
  const started = await api<{ id: string }>(c, 'POST', `/api/v1/gamedays/${name}/runs`, body);
  expect(started.status).toBe(202);
  expect(started.body.id).toMatch(/^gd-/);
  await c.gamedays.wait(started.body.id);
  return (await api<GameDayRun>(c, 'GET', `/api/v1/gameday-runs/${started.body.id}`)).body;
}

describe('game days', () => {
  it('run their experiments in order and stop at the first deviation', async () => {
    const c = await controller();
    await setup(c);
    expect((await api(c, 'PUT', '/api/v1/gamedays/drill', gameday('drill', ['first', 'second', 'third']))).status).toBe(201);
    const run = await runToEnd(c, 'drill');
    expect(run.status).toBe('deviated');
    expect(run.trigger).toBe('manual');
    expect(run.steps.map((s) => [s.experiment, s.status])).toEqual([
      ['first', 'completed'],
      ['second', 'deviated'],
      ['third', 'skipped'],
    ]);
    expect(run.steps[1]!.startedAt!).toBeGreaterThanOrEqual(run.steps[0]!.endedAt!);
    expect(run.reason).toMatch(/1 of 3 experiment\(s\) completed, 1 skipped; second deviated/);
    const journal = c.store.getRun(run.steps[0]!.runId!);
    expect(journal?.trigger).toBe('gameday');

    const md = renderGameDayReport(run, [c.store.getRun(run.steps[0]!.runId!)!, c.store.getRun(run.steps[1]!.runId!)!], 'md');
    expect(md).toContain(`# Game day drill (${run.id})`);
    expect(md).toContain('## Verdict');
    expect(md).toMatch(/\| 3 \| third \| - \| skipped \|/);
    expect(md).toMatch(/^## /m);
    const json = JSON.parse(renderGameDayReport(run, [], 'json')) as { gamedayRun: GameDayRun };
    expect(json.gamedayRun.id).toBe(run.id);
  });

  it('go on after a deviation with stopOnDeviation: false; a missing experiment fails its step', async () => {
    const c = await controller();
    await setup(c);
    await api(c, 'PUT', '/api/v1/gamedays/all', gameday('all', ['second', 'third', 'first'], '  stopOnDeviation: false\n'));
    c.store.deleteExperiment('first');
    const run = await runToEnd(c, 'all');
    expect(run.steps.map((s) => s.status)).toEqual(['deviated', 'completed', 'failed']);
    expect(run.steps[2]!.reason).toBe('experiment "first" does not exist');
    expect(run.status).toBe('deviated');
  });

  it('are aborted by a halt, and refused while it lasts', async () => {
    const c = await controller();
    await setup(c);
    await api(c, 'PUT', '/api/v1/gamedays/halted', gameday('halted', ['first', 'third']));
    const started = await api<{ id: string }>(c, 'POST', '/api/v1/gamedays/halted/runs');
    await new Promise((resolve) => setTimeout(resolve, 30));
    await api(c, 'POST', '/api/v1/halt', '{"reason":"drill"}');
    await c.gamedays.wait(started.body.id);
    const run = (await api<GameDayRun>(c, 'GET', `/api/v1/gameday-runs/${started.body.id}`)).body;
    expect(run.status).toBe('aborted');
    expect(run.steps.map((s) => s.status)).toEqual(['aborted', 'skipped']);
    const refused = await api<{ code: string }>(c, 'POST', '/api/v1/gamedays/halted/runs');
    expect(refused).toMatchObject({ status: 409, body: { code: 'halted' } });
  });

  it('PUT refuses unknown experiments, bad cron, unknown zones and backward windows with 400 and positions', async () => {
    const c = await controller();
    await setup(c);
    const bad = gameday('bad', ['first', 'ghost'], '  schedule: {cron: "0 24 * * *", timezone: Mars/Base}\n  window: {start: "18:00", end: "08:00"}\n');
    const answer = await api<{ code: string; details: { path: string; message: string; line?: number }[] }>(c, 'PUT', '/api/v1/gamedays/bad', bad);
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('invalid_manifest');
    const byPath = Object.fromEntries(answer.body.details.map((d) => [d.path, d]));
    expect(byPath['spec.schedule.cron']?.message).toMatch(/hour field "24": 24 is out of range 0-23/);
    expect(byPath['spec.schedule.timezone']?.message).toMatch(/unknown time zone "Mars\/Base"/);
    expect(byPath['spec.window.end']?.message).toMatch(/window end must be after its start/);
    expect(byPath['spec.schedule.cron']?.line).toBe(6);
    // Schema problems come first; once the schema passes, the names are checked against the store.
    const ghost = await api<{ details: { path: string; message: string; line?: number; column?: number }[] }>(c, 'PUT', '/api/v1/gamedays/bad', gameday('bad', ['first', 'ghost']));
    expect(ghost.status).toBe(400);
    expect(ghost.body.details).toEqual([{ path: 'spec.experiments.1', line: 5, column: 24, message: expect.stringMatching(/experiment "ghost" does not exist on this controller \(known: first, second, third\)/) }]);
    // An experiment with a bad cron is refused the same way.
    const exp = await api<{ details: { path: string }[] }>(c, 'PUT', '/api/v1/experiments/x', experiment('x', 'holds', '  schedule: {cron: "*/0 * * * *"}\n'));
    expect(exp.status).toBe(400);
    expect(exp.body.details.map((d) => d.path)).toEqual(['spec.schedule.cron']);
  });
});

describe('schedule routes', () => {
  it('list experiments and game days with their next fire times', async () => {
    const c = await controller();
    await api(c, 'PUT', '/api/v1/experiments/first', experiment('first', 'holds', '  schedule: {cron: "0 3 * * *", timezone: America/New_York}\n'));
    await api(c, 'PUT', '/api/v1/gamedays/weekly', gameday('weekly', ['first'], '  schedule: {cron: "0 14 * * tue", timezone: Europe/Berlin}\n  window: {start: "09:00", end: "17:00"}\n'));
    const experiments = await api<{ name: string; nextFire: number | null }[]>(c, 'GET', '/api/v1/experiments');
    expect(experiments.body[0]?.nextFire).toBe(c.scheduler.nextFire('experiment', 'first'));
    expect(experiments.body[0]?.nextFire).toBeGreaterThan(Date.now());
    const gamedays = await api<{ name: string; nextFire: number | null }[]>(c, 'GET', '/api/v1/gamedays');
    expect(gamedays.body).toEqual([expect.objectContaining({ name: 'weekly', nextFire: c.scheduler.nextFire('gameday', 'weekly') })]);
    const schedules = await api<ScheduleView[]>(c, 'GET', '/api/v1/schedules?count=3');
    expect(schedules.body.map((s) => `${s.kind}/${s.name}`)).toEqual(['experiment/first', 'gameday/weekly']);
    for (const s of schedules.body) {
      expect(s.upcoming).toHaveLength(3);
      expect(s.upcoming[0]?.at).toBe(s.nextFire);
    }
    // 14:00 Berlin on Tuesdays, whatever the offset.
    for (const u of schedules.body[1]!.upcoming) expect(zoneTime(u.at, 'Europe/Berlin')).toMatch(/^\d{4}-\d\d-\d\d 14:00:00 CES?T \(UTC\+0[12]:00\)$/);
    const one = await api<ScheduleView & { fires: unknown[] }>(c, 'GET', '/api/v1/schedules/gameday/weekly');
    expect(one.body.fires).toEqual([]);
    expect((await api(c, 'GET', '/api/v1/schedules/gameday/nope')).status).toBe(404);
    expect((await api(c, 'GET', '/api/v1/gameday-runs/gd-nope')).status).toBe(404);
    const unauthenticated = await c.app.inject({ method: 'GET', url: '/api/v1/schedules' });
    expect(unauthenticated.statusCode).toBe(401);
  });
});

describe('faultline schedule', () => {
  it('prints each schedule with its next fire times in its own zone and in UTC', () => {
    const text = renderSchedules([
      {
        kind: 'experiment',
        name: 'nightly',
        schedule: { cron: '30 2 * * *', timezone: 'America/New_York' },
        timezone: 'America/New_York',
        window: null,
        concurrency: 'forbid',
        nextFire: Date.parse('2026-03-08T07:00:00Z'),
        upcoming: [
          { at: Date.parse('2026-03-07T07:30:00Z'), insideWindow: true },
          { at: Date.parse('2026-03-08T07:00:00Z'), insideWindow: true },
          { at: Date.parse('2026-03-09T06:30:00Z'), insideWindow: false },
        ],
        lastFire: { at: Date.parse('2026-03-06T07:30:00Z'), outcome: 'skipped', reason: 'halted', runId: null },
      },
    ]);
    expect(text).toBe(
      [
        'experiment nightly: cron "30 2 * * *" in America/New_York, concurrency forbid',
        '  last: 2026-03-06 02:30:00 EST (UTC-05:00)  skipped (halted)',
        '  next:',
        '    2026-03-07 02:30:00 EST (UTC-05:00)  2026-03-07T07:30:00Z',
        '    2026-03-08 03:00:00 EDT (UTC-04:00)  2026-03-08T07:00:00Z',
        '    2026-03-09 02:30:00 EDT (UTC-04:00)  2026-03-09T06:30:00Z  (outside the window: will be skipped)',
        '',
      ].join('\n'),
    );
    expect(zoneTime(Date.parse('2026-01-01T00:00:00Z'), 'UTC')).toBe('2026-01-01 00:00:00 (UTC+00:00)');
    expect(zoneTime(Date.parse('2026-01-01T00:00:00Z'), 'Asia/Kolkata')).toBe('2026-01-01 05:30:00 (UTC+05:30)');
  });
});

describe('faultline validate with game days', () => {
  function capture(cwd: string): { io: CliIo; out: () => string } {
    let out = '';
    return { io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, env: {}, cwd }, out: () => out };
  }

  it('resolves experiment names among the given files and the game day folder, with file:line:column', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'first.yaml'), experiment('first', 'holds'));
    writeFileSync(join(dir, 'drill.yaml'), gameday('drill', ['first', 'second']));
    return (async () => {
      const bad = capture(dir);
      expect(await runCli(['validate', 'drill.yaml'], bad.io)).toBe(1);
      expect(bad.out()).toMatch(/^drill\.yaml:5:24: spec\.experiments\.1: experiment "second" does not exist among the files given or in this folder\/ .*\(known: first\)\n$/);
      const other = tempDir();
      writeFileSync(join(other, 'second.yaml'), experiment('second', 'holds'));
      const good = capture(dir);
      expect(await runCli(['validate', 'drill.yaml', join(other, 'second.yaml')], good.io)).toBe(0);
      expect(good.out()).toBe(`${join(other, 'second.yaml')}: ok (Experiment second)\ndrill.yaml: ok (GameDay drill)\n`);
    })();
  });
});
