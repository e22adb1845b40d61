/**
 * Schedules and game days with the real controller process (docs/scheduling.md): a 6-field cron
 * fires scheduled runs on time; a halt skips fires (recorded) and resume re-arms; a controller
 * restart records the fire times it missed and does not run them in a burst; a scheduled game day
 * of three experiments against a real container runs them in order and stops at the deviation.
 */
import { describe, expect, it } from 'vitest';
import type { FireRecord, GameDayRun, RunSummary, ScheduleView } from '@faultline/shared';
import { startWebContainer } from './fixtures/docker.js';
import { waitFor } from './fixtures/http.js';
import { namespaceLeftovers } from './fixtures/leftovers.js';
import { API_TOKEN, CONTROLLER_MAIN, getRun, startAgent, startController, type ControllerHandle } from './fixtures/faultline.js';
import { runCommand } from './fixtures/process.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Fire period of the cron below, in ms. */
const PERIOD = 3000;

async function put(controller: ControllerHandle, kind: 'experiments' | 'gamedays', name: string, yaml: string): Promise<void> {
  const answer = await controller.api('PUT', `/api/v1/${kind}/${name}`, yaml, 'application/yaml');
  if (answer.status !== 200 && answer.status !== 201) throw new Error(`PUT ${kind}/${name} answered ${answer.status}: ${answer.text}`);
}

async function fires(controller: ControllerHandle, key: string): Promise<FireRecord[]> {
  const answer = await controller.api<ScheduleView & { fires: FireRecord[] }>('GET', `/api/v1/schedules/${key}?limit=1000`);
  if (answer.status !== 200) throw new Error(`GET schedule ${key} answered ${answer.status}: ${answer.text}`);
  return [...answer.body.fires].sort((a, b) => a.scheduledAt - b.scheduledAt);
}

async function scheduledRuns(controller: ControllerHandle, experiment: string): Promise<RunSummary[]> {
  const answer = await controller.api<RunSummary[]>('GET', `/api/v1/runs?experiment=${experiment}&limit=1000`);
  return answer.body.filter((run) => run.trigger === 'schedule').sort((a, b) => a.createdAt - b.createdAt);
}

describe('scheduling (real controller process)', () => {
  it('a 6-field cron fires scheduled runs on time; halt skips fires and resume re-arms; a restart records missed fires without a burst', async () => {
    await using controller = await startController();
    // Only a pause: no target is resolved, so no agent is needed; each run takes ~0.2 s.
    await put(
      controller,
      'experiments',
      'tick',
      `apiVersion: faultline/v1
kind: Experiment
metadata: {name: tick}
spec:
  targets: {web: {containers: {labels: {app: none}}}}
  method: [{pause: 200ms}]
  schedule: {cron: "*/3 * * * * *", timezone: America/New_York}
`,
    );
    const listed = await controller.api<{ name: string; nextFire: number | null }[]>('GET', '/api/v1/experiments');
    const nextFire = listed.body.find((e) => e.name === 'tick')?.nextFire ?? null;
    expect(nextFire).not.toBeNull();
    expect(nextFire! % PERIOD).toBe(0);
    expect(nextFire! - Date.now()).toBeLessThanOrEqual(PERIOD);

    // 1. Fires on time, each a run marked `schedule`.
    await waitFor(async () => (await scheduledRuns(controller, 'tick')).length >= 3, { timeoutMs: 20_000, message: 'three scheduled runs' });
    let records = await fires(controller, 'experiment/tick');
    const fired = records.filter((f) => f.outcome === 'fired');
    expect(fired.length).toBeGreaterThanOrEqual(3);
    for (const fire of fired) {
      expect(fire.scheduledAt % PERIOD).toBe(0);
      // Never early; started within a second of its fire time (the bound of the issue; the
      // timer is exact, the slack is for a loaded 2-core machine).
      expect(fire.recordedAt).toBeGreaterThanOrEqual(fire.scheduledAt);
      expect(fire.recordedAt - fire.scheduledAt).toBeLessThan(1000);
      const journal = await getRun(controller, fire.runId!);
      expect(journal.trigger).toBe('schedule');
      expect(journal.createdAt - fire.scheduledAt).toBeLessThan(1000);
    }
    const lateness = fired.map((f) => f.recordedAt - f.scheduledAt).sort((a, b) => a - b);
    process.stdout.write(`schedule e2e: ${fired.length} scheduled fires, start delay after the fire time: median ${lateness[Math.floor(lateness.length / 2)]}ms, max ${lateness.at(-1)}ms\n`);
    // Consecutive fire times, none doubled.
    const times = fired.map((f) => f.scheduledAt);
    expect(new Set(times).size).toBe(times.length);

    // 2. Halt: fires are skipped and recorded; no run starts.
    expect((await controller.api('POST', '/api/v1/halt', { reason: 'e2e schedule drill' })).status).toBe(200);
    const haltedAt = Date.now();
    const runsBeforeHalt = (await scheduledRuns(controller, 'tick')).length;
    await sleep(2 * PERIOD + 500);
    records = await fires(controller, 'experiment/tick');
    const skipped = records.filter((f) => f.scheduledAt > haltedAt && f.outcome === 'skipped');
    expect(skipped.length).toBeGreaterThanOrEqual(2);
    expect(skipped.every((f) => f.reason === 'halted')).toBe(true);
    expect(records.filter((f) => f.scheduledAt > haltedAt && f.outcome === 'fired')).toEqual([]);
    expect((await scheduledRuns(controller, 'tick')).length).toBe(runsBeforeHalt);

    // 3. Resume re-arms: the next fire starts a run again.
    expect((await controller.api('POST', '/api/v1/resume', {})).status).toBe(200);
    const resumedAt = Date.now();
    await waitFor(async () => (await scheduledRuns(controller, 'tick')).some((run) => run.createdAt > resumedAt), {
      timeoutMs: 2 * PERIOD + 2000,
      message: 'a scheduled run after resume',
    });

    // 4. Restart: the fire times while the controller was down are recorded missed, and not run.
    controller.process.kill('SIGTERM');
    await controller.process.exited;
    const stoppedAt = Date.now();
    await sleep(3 * PERIOD);
    await controller.restart();
    const restartedAt = Date.now();
    records = await fires(controller, 'experiment/tick');
    const missed = records.filter((f) => f.outcome === 'missed');
    expect(missed.length).toBeGreaterThanOrEqual(3);
    expect(missed.every((f) => f.reason === 'down' && f.scheduledAt > stoppedAt - PERIOD && f.scheduledAt <= restartedAt)).toBe(true);
    // Consecutive fire times of the outage, each once.
    const missedTimes = missed.map((f) => f.scheduledAt);
    missedTimes.slice(1).forEach((t, i) => expect(t - missedTimes[i]!).toBe(PERIOD));
    // No burst: after the restart, runs start one per fire time, at fire times after the restart.
    await sleep(2 * PERIOD + 500);
    const after = (await scheduledRuns(controller, 'tick')).filter((run) => run.createdAt > stoppedAt);
    expect(after.length).toBeGreaterThanOrEqual(1);
    expect(after.length).toBeLessThanOrEqual(3);
    after.slice(1).forEach((run, i) => expect(run.createdAt - after[i]!.createdAt).toBeGreaterThan(PERIOD - 1000));
    const firedAfter = (await fires(controller, 'experiment/tick')).filter((f) => f.outcome === 'fired' && f.scheduledAt > stoppedAt);
    expect(firedAfter.every((f) => f.scheduledAt >= missedTimes.at(-1)! + PERIOD)).toBe(true);
  });

  it('a scheduled game day runs its experiments in order against a real container and stops at the deviation', async () => {
    const label = `gd-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using _agent = await startAgent(controller);
    const experiment = (name: string, maxLatency: string, method: string) => `apiVersion: faultline/v1
kind: Experiment
metadata: {name: ${name}}
spec:
  targets:
    web: {containers: {labels: {e2e: "${label}"}}}
  steadyState:
    probes:
      - name: fast-enough
        type: http
        url: ${web.url}
        timeout: 2s
        expect: {status: 200, maxLatency: ${maxLatency}, bodyContains: ok}
        when: [before, during, after]
        interval: 500ms
  method:
${method}
`;
    // 1: holds (no fault, just the probe); 2: 400 ms of latency breaks the during probe; 3: would kill the container.
    await put(controller, 'experiments', 'gd-steady', experiment('gd-steady', '1s', '    - pause: 1s'));
    await put(controller, 'experiments', 'gd-slow', experiment('gd-slow', '150ms', '    - {fault: network-latency, target: web, duration: 30s, params: {latency: 400ms, ports: [80]}}'));
    await put(controller, 'experiments', 'gd-kill', experiment('gd-kill', '1s', '    - {fault: container-kill, target: web}'));

    // A game day naming an unknown experiment is refused with the line and column of the name.
    const refused = await controller.api<{ code: string; details: { path: string; line?: number; column?: number; message: string }[] }>(
      'PUT',
      '/api/v1/gamedays/drill',
      'apiVersion: faultline/v1\nkind: GameDay\nmetadata: {name: drill}\nspec:\n  experiments: [gd-steady, gd-nope]\n',
      'application/yaml',
    );
    expect(refused.status).toBe(400);
    expect(refused.body.details).toEqual([expect.objectContaining({ path: 'spec.experiments.1', line: 5, column: 28, message: expect.stringMatching(/"gd-nope" does not exist/) })]);

    const at = new Date(Math.ceil((Date.now() + 3000) / 1000) * 1000).toISOString();
    await put(
      controller,
      'gamedays',
      'drill',
      `apiVersion: faultline/v1
kind: GameDay
metadata: {name: drill}
spec:
  schedule: {at: "${at}"}
  experiments: [gd-steady, gd-slow, gd-kill]
  stopOnDeviation: true
`,
    );
    const listed = await controller.api<{ name: string; nextFire: number | null }[]>('GET', '/api/v1/gamedays');
    expect(listed.body).toEqual([expect.objectContaining({ name: 'drill', nextFire: Date.parse(at) })]);

    const run = await waitFor(
      async () => {
        const runs = await controller.api<GameDayRun[]>('GET', '/api/v1/gameday-runs?gameday=drill');
        const latest = runs.body[0];
        return latest && !['pending', 'running'].includes(latest.status) ? latest : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, message: 'the game day to end' },
    );
    expect(run.trigger).toBe('schedule');
    expect(run.status).toBe('deviated');
    expect(run.steps.map((step) => [step.experiment, step.status])).toEqual([
      ['gd-steady', 'completed'],
      ['gd-slow', 'deviated'],
      ['gd-kill', 'skipped'],
    ]);
    // In order: the second started after the first ended.
    expect(run.steps[1]!.startedAt!).toBeGreaterThanOrEqual(run.steps[0]!.endedAt!);
    expect(run.steps[2]!.runId).toBeNull();
    const slow = await getRun(controller, run.steps[1]!.runId!);
    expect(slow.trigger).toBe('gameday');
    expect(slow.reason).toMatch(/fast-enough failed during the method/);
    expect(slow.faults[0]?.revertedAt).not.toBeNull();
    // The third experiment never ran: the container was not killed, and the latency is gone.
    expect((await web.state()).running).toBe(true);
    await waitFor(async () => (await namespaceLeftovers(web.pid)).length === 0, { timeoutMs: 5000, message: 'namespace clean' });
    const fire = (await fires(controller, 'gameday/drill'))[0];
    expect(fire).toMatchObject({ outcome: 'fired', runId: run.id, scheduledAt: Date.parse(at) });

    // `faultline report` takes the game-day run id.
    const report = await runCommand(process.execPath, [CONTROLLER_MAIN, 'report', run.id, '--server', controller.url, '--token', API_TOKEN], { timeoutMs: 30_000 });
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toContain(`# Game day drill (${run.id})`);
    expect(report.stdout).toMatch(/\| 2 \| gd-slow \| \S+ \| deviated \|/);
    expect(report.stdout).toContain('| 3 | gd-kill | - | skipped |');
  });
});
