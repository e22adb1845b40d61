/** SIGTERM of either daemon reverts every fault before it exits (SPEC §2). */
import { describe, expect, it } from 'vitest';
import { startWebContainer } from './fixtures/docker.js';
import { measureLatency } from './fixtures/http.js';
import { namespaceLeftovers, proxyPids } from './fixtures/leftovers.js';
import { getRun, startAgent, startController, startRun, waitForApplied } from './fixtures/faultline.js';

const yaml = (label: string): string => `apiVersion: faultline/v1
kind: Experiment
metadata: {name: shutdown-e2e}
spec:
  targets:
    web: {containers: {labels: {e2e: "${label}"}}}
  method:
    - {fault: network-latency, target: web, duration: 5m, params: {latency: 300ms, ports: [80]}}
`;

describe('graceful shutdown (real processes, real Docker)', () => {
  it('controller SIGTERM aborts the run, reverts its faults, then exits 0', async () => {
    const label = `cterm-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using _agent = await startAgent(controller, { leaseTimeout: '60s' });
    const id = await startRun(controller, 'shutdown-e2e', yaml(label));
    const faultId = (await waitForApplied(controller, id)).faults[0]!.faultId;
    controller.process.kill('SIGTERM');
    expect((await controller.process.exited).code).toBe(0);
    // Reverted by the controller's shutdown, not by the (60 s) lease.
    expect(await namespaceLeftovers(web.pid)).toEqual([]);
    expect(await proxyPids(faultId)).toEqual([]);
    await controller.restart();
    const journal = await getRun(controller, id);
    expect(journal.status).toBe('aborted');
    expect(journal.reason).toMatch(/shutting down/);
    expect(journal.faults[0]?.revertedAt).not.toBeNull();
  });

  it('agent SIGTERM reverts every fault, then exits 0', async () => {
    const label = `aterm-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using agent = await startAgent(controller, { leaseTimeout: '60s' });
    const id = await startRun(controller, 'shutdown-e2e', yaml(label));
    const faultId = (await waitForApplied(controller, id)).faults[0]!.faultId;
    agent.process.kill('SIGTERM');
    expect((await agent.process.exited).code).toBe(0);
    expect(await namespaceLeftovers(web.pid)).toEqual([]);
    expect(await proxyPids(faultId)).toEqual([]);
    expect((await measureLatency(web.url, { samples: 5 })).median).toBeLessThan(100);
  });
});
