/**
 * Safety invariants under crashes (SPEC §7.2, §7.3): kill -9 of the agent or the controller in the
 * middle of a latency fault, then measure from outside that traffic is normal and nothing is left.
 */
import { describe, expect, it } from 'vitest';
import { startWebContainer } from './fixtures/docker.js';
import { latencyExperiment } from './fixtures/experiments.js';
import { measureLatency, waitFor } from './fixtures/http.js';
import { namespaceLeftovers, proxyPids } from './fixtures/leftovers.js';
import { getRun, startAgent, startController, startRun, waitForApplied, waitForRunEnd } from './fixtures/faultline.js';

describe('crash safety (real processes, real Docker)', () => {
  it('agent killed with -9 mid-fault: on restart it reverts the ledger before connecting', async () => {
    const label = `acrash-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using agent = await startAgent(controller, { leaseTimeout: '30s' });
    const baseline = await measureLatency(web.url, { samples: 10 });

    const id = await startRun(controller, 'agent-crash', latencyExperiment({ name: 'agent-crash', label, duration: '5m', latencyMs: 300 }));
    const journal = await waitForApplied(controller, id);
    const faultId = journal.faults[0]!.faultId;
    expect((await measureLatency(web.url, { samples: 5 })).median).toBeGreaterThan(baseline.median + 250);

    agent.process.kill('SIGKILL');
    await agent.process.exited;
    // The run notices the lost agent and fails; the fault is still in place until the agent comes back.
    const failed = await waitForRunEnd(controller, id, 20_000);
    expect(failed.status).toBe('failed');
    expect(failed.reason).toMatch(/lost/);
    expect(await proxyPids(faultId)).not.toEqual([]);

    const restartedAt = Date.now();
    await agent.restart();
    // The ledger recovery ran before the agent connected: by now the namespace is clean.
    expect(await namespaceLeftovers(web.pid)).toEqual([]);
    expect(await proxyPids(faultId)).toEqual([]);
    // Order in the agent's own log: the leftover is reverted before it connects (SPEC §7.3).
    const lines = agent.process.stdout;
    const revertedAt = lines.findIndex((line) => line.includes('leftover fault reverted') && line.includes(faultId));
    const connectingAt = lines.findIndex((line) => line.includes('connecting to the controller'));
    expect(revertedAt).toBeGreaterThanOrEqual(0);
    expect(revertedAt).toBeLessThan(connectingAt);
    const after = await measureLatency(web.url, { samples: 10 });
    expect(after.errors).toBe(0);
    expect(after.median).toBeLessThan(baseline.median + 30);
    process.stdout.write(`agent restart to clean and connected: ${Date.now() - restartedAt}ms\n`);
  });

  it('controller killed with -9 mid-fault: the agent reverts within its lease timeout', async () => {
    const label = `ccrash-${Date.now()}`;
    const leaseMs = 3000;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using _agent = await startAgent(controller, { leaseTimeout: `${leaseMs}ms` });
    const baseline = await measureLatency(web.url, { samples: 10 });

    const id = await startRun(controller, 'controller-crash', latencyExperiment({ name: 'controller-crash', label, duration: '5m', latencyMs: 300 }));
    const journal = await waitForApplied(controller, id);
    const faultId = journal.faults[0]!.faultId;
    expect((await measureLatency(web.url, { samples: 5 })).median).toBeGreaterThan(baseline.median + 250);

    controller.process.kill('SIGKILL');
    await controller.process.exited;
    const killedAt = Date.now();
    await waitFor(async () => (await namespaceLeftovers(web.pid)).length === 0 && (await proxyPids(faultId)).length === 0, {
      timeoutMs: leaseMs + 10_000,
      intervalMs: 50,
      message: 'the agent to revert after the lease expired',
    });
    const revertMs = Date.now() - killedAt;
    process.stdout.write(`controller killed -> fault reverted by lease in ${revertMs}ms (lease ${leaseMs}ms)\n`);
    expect(revertMs).toBeLessThanOrEqual(leaseMs + 1500);
    const after = await measureLatency(web.url, { samples: 10 });
    expect(after.median).toBeLessThan(baseline.median + 30);

    // Restarted, the controller marks the interrupted run failed and re-applies nothing.
    await controller.restart();
    const interrupted = await getRun(controller, id);
    expect(interrupted.status).toBe('failed');
    expect(interrupted.reason).toMatch(/controller restarted/);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await namespaceLeftovers(web.pid)).toEqual([]);
  });
});
