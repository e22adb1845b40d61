/**
 * Targets that restart or disappear while a sustained network fault holds (issue 3, item 4), with
 * the real controller, agent and Docker. A restarted container has a new process and a new network
 * namespace that holds none of the fault: the agent notices through Docker events and applies the
 * fault again there for the rest of its duration; the run's revert then cleans the new namespace. A
 * container removed mid-fault is reported, and the other targets' faults revert normally.
 */
import { readlink } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { docker, startWebContainer } from './fixtures/docker.js';
import { latencyExperiment } from './fixtures/experiments.js';
import { measureLatency, waitFor } from './fixtures/http.js';
import { namespaceLeftovers, proxyPids } from './fixtures/leftovers.js';
import { getRun, startAgent, startController, startRun, waitForApplied, waitForRunEnd } from './fixtures/faultline.js';

const LATENCY_MS = 200;

/** The network namespace of a process, as the kernel names it (`net:[4026532...]`). */
function netnsOf(pid: number): Promise<string> {
  return readlink(`/proc/${pid}/ns/net`);
}

describe('targets that restart or disappear during a network fault (real Docker)', () => {
  it('a restarted target gets the latency again in its new namespace; the revert leaves that namespace clean and no proxy', async () => {
    const label = `restart-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using agent = await startAgent(controller);
    const baseline = await measureLatency(web.url, { samples: 10, intervalMs: 20 });

    const id = await startRun(controller, 'target-restart', latencyExperiment({ name: 'target-restart', label, duration: '60s', latencyMs: LATENCY_MS }));
    const journal = await waitForApplied(controller, id);
    const faultId = journal.faults[0]!.faultId;
    const oldPid = web.pid;
    expect((await measureLatency(web.url, { samples: 5, intervalMs: 20 })).median).toBeGreaterThan(baseline.median + LATENCY_MS * 0.8);
    const [oldProxy] = await proxyPids(faultId);
    expect(await netnsOf(oldProxy!)).toBe(await netnsOf(oldPid));

    await docker(['restart', '-t', '0', web.id]);
    const restartedAt = Date.now();
    const { pid: newPid } = await web.state();
    expect(newPid).not.toBe(oldPid);
    const newNetns = await netnsOf(newPid);
    expect(newNetns).not.toBe(await netnsOf(oldProxy!).catch(() => 'gone'));
    const url = `http://127.0.0.1:${await web.hostPort()}/`;

    // Applied again within a few seconds: the redirect chain is in the new namespace, and exactly one
    // proxy of this fault runs, inside it (the old one, in the old namespace, is gone).
    await waitFor(
      async () => {
        const proxies = await proxyPids(faultId);
        return proxies.length === 1 && proxies[0] !== oldProxy && (await netnsOf(proxies[0]!)) === newNetns && (await namespaceLeftovers(newPid)).length > 0;
      },
      { timeoutMs: 10_000, intervalMs: 50, message: 'the fault to be applied again in the new namespace' },
    );
    const reappliedMs = Date.now() - restartedAt;
    const during = await measureLatency(url, { samples: 7, intervalMs: 20 });
    expect(during.errors).toBe(0);
    const added = during.median - baseline.median;
    expect(added).toBeGreaterThanOrEqual(LATENCY_MS * 0.8);
    expect(added).toBeLessThanOrEqual(LATENCY_MS * 1.5);
    const log = agent.process.stdout.join('\n');
    expect(log).toContain('applying the fault again for the rest of its duration');
    expect(log).toContain('fault applied again in the restarted target');

    // The run's revert (here: abort) cleans the new namespace and stops the new proxy.
    const abortAt = Date.now();
    expect((await controller.api('POST', `/api/v1/runs/${id}/abort`, { reason: 'test: revert' })).status).toBe(202);
    const ended = await waitForRunEnd(controller, id, 30_000);
    expect(ended.status).toBe('aborted');
    expect(ended.faults[0]).toMatchObject({ revertCause: 'requested' });
    expect(ended.faults[0]!.revertError).toBeUndefined();
    const revertMs = ended.faults[0]!.revertedAt! - abortAt;
    expect(await namespaceLeftovers(newPid)).toEqual([]);
    expect(await proxyPids(faultId)).toEqual([]);
    const after = await measureLatency(url, { samples: 10, intervalMs: 20 });
    expect(after.errors).toBe(0);
    expect(after.median).toBeLessThan(baseline.median + 30);
    process.stdout.write(
      `target restart: latency applied again ${reappliedMs} ms after docker restart returned (+${added.toFixed(0)} ms median in the new namespace); revert ${revertMs} ms, new namespace clean, no proxy\n`,
    );
  });

  it('a target removed mid-fault is reported (cause target-removed); the other target reverts normally and the run completes', async () => {
    const label = `removed-${Date.now()}`;
    await using doomed = await startWebContainer({ labels: { e2e: label } });
    await using survivor = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using agent = await startAgent(controller);
    const baseline = await measureLatency(survivor.url, { samples: 10, intervalMs: 20 });

    const id = await startRun(controller, 'target-removed', latencyExperiment({ name: 'target-removed', label, duration: '8s', latencyMs: LATENCY_MS }));
    const journal = await waitForApplied(controller, id, 2);
    const doomedFault = journal.faults.find((fault) => fault.containerId === doomed.id)!;
    const survivorFault = journal.faults.find((fault) => fault.containerId === survivor.id)!;
    expect(await proxyPids(doomedFault.faultId)).toHaveLength(1);

    await docker(['rm', '-f', doomed.id]);
    const removedAt = Date.now();
    const reported = await waitFor(
      async () => {
        const run = await getRun(controller, id);
        const fault = run.faults.find((f) => f.faultId === doomedFault.faultId);
        return fault?.revertedAt ? { run, fault } : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50, message: 'the removed target to be reported' },
    );
    const reportMs = Date.now() - removedAt;
    expect(reported.fault).toMatchObject({ revertCause: 'target-removed' });
    expect(reported.fault.revertError).toBeUndefined();
    expect(reported.run.timeline.some((event) => event.message.includes('target-removed'))).toBe(true);
    // What lived outside the container (the proxy process) is gone; the other fault still holds.
    expect(await proxyPids(doomedFault.faultId)).toEqual([]);
    expect(reported.run.faults.find((f) => f.faultId === survivorFault.faultId)?.revertedAt).toBeNull();
    expect((await measureLatency(survivor.url, { samples: 5, intervalMs: 20 })).median).toBeGreaterThan(baseline.median + LATENCY_MS * 0.8);
    expect(agent.process.stdout.join('\n')).toContain('was removed while the fault was active');

    const ended = await waitForRunEnd(controller, id, 30_000);
    expect(ended.status).toBe('completed');
    const survived = ended.faults.find((f) => f.faultId === survivorFault.faultId)!;
    expect(survived.revertedAt).not.toBeNull();
    expect(survived.revertError).toBeUndefined();
    expect(await namespaceLeftovers(survivor.pid)).toEqual([]);
    expect(await proxyPids(survivorFault.faultId)).toEqual([]);
    expect((await measureLatency(survivor.url, { samples: 10, intervalMs: 20 })).median).toBeLessThan(baseline.median + 30);
    process.stdout.write(`target removed: reported to the run as target-removed ${reportMs} ms after docker rm -f; the other target reverted at its deadline, run completed\n`);
  });
});
