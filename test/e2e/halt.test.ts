/** Halt (SPEC §5, §7.4): aborts runs, reverts every fault on every agent, refuses new runs until resume, survives restarts. */
import { describe, expect, it } from 'vitest';
import { startWebContainer } from './fixtures/docker.js';
import { measureLatency } from './fixtures/http.js';
import { namespaceLeftovers, proxyPids } from './fixtures/leftovers.js';
import { startAgent, startController, startRun, waitForApplied, waitForRunEnd } from './fixtures/faultline.js';

describe('halt and resume (real processes, real Docker)', () => {
  it('reverts every fault, aborts the run, refuses runs until resume, even across a restart', async () => {
    const label = `halt-${Date.now()}`;
    await using web1 = await startWebContainer({ labels: { e2e: label } });
    await using web2 = await startWebContainer({ labels: { e2e: label } });
    await using web3 = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using _agent = await startAgent(controller);
    const yaml = `apiVersion: faultline/v1
kind: Experiment
metadata: {name: halt-e2e}
spec:
  targets:
    web: {containers: {labels: {e2e: "${label}"}}}
  method:
    - {fault: network-latency, target: web, duration: 5m, params: {latency: 300ms, ports: [80]}}
`;
    const id = await startRun(controller, 'halt-e2e', yaml);
    const applied = await waitForApplied(controller, id, 3);
    expect(applied.faults).toHaveLength(3);

    const started = performance.now();
    const halt = await controller.api<{ halted: boolean; confirmed: string[]; unconfirmed: unknown[]; abortedRuns: string[] }>('POST', '/api/v1/halt', { reason: 'e2e drill' });
    const haltMs = performance.now() - started;
    process.stdout.write(`halt: request to every fault reverted and confirmed in ${haltMs.toFixed(0)}ms (3 containers, 1 agent)\n`);
    expect(halt.status).toBe(200);
    expect(halt.body.confirmed).toEqual([_agent.name]);
    expect(halt.body.unconfirmed).toEqual([]);
    expect(halt.body.abortedRuns).toEqual([id]);
    for (const web of [web1, web2, web3]) {
      expect(await namespaceLeftovers(web.pid)).toEqual([]);
      expect((await measureLatency(web.url, { samples: 5 })).median).toBeLessThan(100);
    }
    for (const fault of applied.faults) expect(await proxyPids(fault.faultId)).toEqual([]);
    const journal = await waitForRunEnd(controller, id);
    expect(journal.status).toBe('aborted');
    expect(journal.reason).toMatch(/halted: e2e drill/);

    const refused = await controller.api<{ code: string; error: string }>('POST', '/api/v1/experiments/halt-e2e/runs', {});
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('halted');
    expect(refused.body.error).toMatch(/resume/);

    controller.process.kill('SIGTERM');
    await controller.process.exited;
    await controller.restart();
    expect((await controller.api('POST', '/api/v1/experiments/halt-e2e/runs', {})).status).toBe(409);
    expect((await controller.api<{ halted: boolean }>('GET', '/api/v1/halt')).body.halted).toBe(true);

    expect((await controller.api('POST', '/api/v1/resume', {})).status).toBe(200);
    const dry = await controller.api<{ id: string }>('POST', '/api/v1/experiments/halt-e2e/runs', { dryRun: true });
    expect(dry.status).toBe(202);
  });
});
