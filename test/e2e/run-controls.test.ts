/** Steering runs (SPEC §4-§6): dry run, maxTargets, safety.timeout, abort, and `faultline run` from the CLI. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startWebContainer } from './fixtures/docker.js';
import { measureLatency } from './fixtures/http.js';
import { namespaceLeftovers, proxyPids } from './fixtures/leftovers.js';
import { API_TOKEN, CONTROLLER_MAIN, startAgent, startController, startRun, waitForApplied, waitForRunEnd } from './fixtures/faultline.js';
import { runCommand, tempDir } from './fixtures/process.js';

function latency(name: string, label: string, extra = '', duration = '5m'): string {
  return `apiVersion: faultline/v1
kind: Experiment
metadata: {name: ${name}}
spec:
  targets:
    web: {containers: {labels: {e2e: "${label}"}}}
  method:
    - {fault: network-latency, target: web, duration: ${duration}, params: {latency: 300ms, ports: [80]}}
${extra}`;
}

describe('run controls (real processes, real Docker)', () => {
  it('dry run lists the plan per agent and injects nothing; maxTargets refuses naming the count', async () => {
    const label = `ctl-${Date.now()}`;
    await using a = await startWebContainer({ labels: { e2e: label } });
    await using _b = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using agent = await startAgent(controller);
    const dry = await waitForRunEnd(controller, await startRun(controller, 'dry', latency('dry', label), { dryRun: true }));
    expect(dry.status).toBe('completed');
    expect(dry.dryRun).toBe(true);
    expect(dry.plan?.web?.map((t) => t.agent)).toEqual([agent.name, agent.name]);
    expect(dry.faults).toEqual([]);
    expect(await namespaceLeftovers(a.pid)).toEqual([]);

    const limited = await waitForRunEnd(controller, await startRun(controller, 'limited', latency('limited', label, '  safety: {maxTargets: 1}\n')));
    expect(limited.status).toBe('failed');
    expect(limited.reason).toMatch(/2 containers, more than safety.maxTargets \(1\)/);
    expect(limited.faults).toEqual([]);
  });

  it('safety.timeout aborts a run that overstays and reverts its faults', async () => {
    const label = `tmo-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using _agent = await startAgent(controller);
    const started = Date.now();
    const journal = await waitForRunEnd(controller, await startRun(controller, 'overstay', latency('overstay', label, '  safety: {timeout: 3s}\n')));
    expect(journal.status).toBe('aborted');
    expect(journal.reason).toMatch(/safety.timeout \(3s\)/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(journal.faults[0]?.revertedAt).not.toBeNull();
    expect(await namespaceLeftovers(web.pid)).toEqual([]);
  });

  it('abort through the CLI reverts the run\'s faults; `faultline run` exits 0 only when completed', async () => {
    const label = `abort-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using _agent = await startAgent(controller);
    const env = { ...process.env, FAULTLINE_SERVER: controller.url, FAULTLINE_API_TOKEN: API_TOKEN };
    const id = await startRun(controller, 'abort-me', latency('abort-me', label));
    const applied = await waitForApplied(controller, id);
    const abort = await runCommand(process.execPath, [CONTROLLER_MAIN, 'abort', id, '--reason', 'drill over'], { env });
    expect(abort.code, abort.stderr).toBe(0);
    const journal = await waitForRunEnd(controller, id);
    expect(journal.status).toBe('aborted');
    expect(journal.reason).toBe('drill over');
    expect(await proxyPids(applied.faults[0]!.faultId)).toEqual([]);
    expect((await measureLatency(web.url, { samples: 5 })).median).toBeLessThan(100);

    await using dir = await tempDir();
    const file = join(dir.path, 'short.yaml');
    await writeFile(file, latency('short', label, '', '2s'));
    const ok = await runCommand(process.execPath, [CONTROLLER_MAIN, 'run', file], { env });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/fault network-latency applied on/);
    expect(ok.stdout).toMatch(/fault network-latency reverted on/);
    expect(ok.stdout).toMatch(/completed/);
    await writeFile(file, latency('short', `nothing-${label}`, '', '2s'));
    const failed = await runCommand(process.execPath, [CONTROLLER_MAIN, 'run', file], { env });
    expect(failed.code).toBe(1);
    expect(failed.stdout + failed.stderr).toMatch(/no running container matches/);
  });
});
