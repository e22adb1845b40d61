/** network-latency through the transparent proxy, measured by a client through the published port. */
import { describe, expect, it } from 'vitest';
import { startWebContainer } from './fixtures/docker.js';
import { experimentYaml, latencyExperiment } from './fixtures/experiments.js';
import { measureLatency, waitFor } from './fixtures/http.js';
import { namespaceLeftovers, proxyPids } from './fixtures/leftovers.js';
import { startAgent, startController, startRun, waitForApplied, waitForRunEnd } from './fixtures/faultline.js';

const LATENCY_MS = 200;

describe('network-latency (proxy mechanism, real Docker)', () => {
  it('adds the requested latency while active and returns to baseline after', async () => {
    const label = `lat-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using _agent = await startAgent(controller);

    const baseline = await measureLatency(web.url, { samples: 20 });
    expect(baseline.errors).toBe(0);

    const id = await startRun(controller, 'latency-e2e', latencyExperiment({ name: 'latency-e2e', label, duration: '12s', latencyMs: LATENCY_MS }));
    const applied = await waitForApplied(controller, id);
    expect(applied.faults[0]?.details?.mechanism).toBe('proxy');
    const during = await measureLatency(web.url, { samples: 20 });
    expect(during.errors).toBe(0);
    const added = during.median - baseline.median;
    process.stdout.write(`latency: baseline median ${baseline.median.toFixed(1)}ms, during ${during.median.toFixed(1)}ms, added ${added.toFixed(1)}ms (target ${LATENCY_MS}ms)\n`);
    expect(added).toBeGreaterThanOrEqual(LATENCY_MS * 0.9);
    expect(added).toBeLessThanOrEqual(LATENCY_MS * 1.1);

    const journal = await waitForRunEnd(controller, id);
    expect(journal.status).toBe('completed');
    expect(journal.faults[0]?.revertedAt).not.toBeNull();
    const after = await measureLatency(web.url, { samples: 20 });
    expect(after.errors).toBe(0);
    expect(after.median).toBeLessThan(baseline.median + 20);
    expect(await namespaceLeftovers(web.pid)).toEqual([]);
    expect(await proxyPids(journal.faults[0]?.faultId)).toEqual([]);
  });

  it('a during probe that the fault breaks stops the run early, reverts, and ends deviated', async () => {
    const label = `dev-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using _agent = await startAgent(controller);
    const yaml = experimentYaml('deviation-e2e', label, `    - fault: network-latency
      target: web
      duration: 60s
      params: {latency: 400ms, ports: [80]}
    - fault: container-kill
      target: web
`, {
      spec: `  steadyState:
    probes:
      - name: fast-enough
        type: http
        url: ${web.url}
        timeout: 2s
        expect: {status: 200, maxLatency: 150ms, bodyContains: ok}
        when: [before, during, after]
        interval: 500ms
`,
    });
    const started = Date.now();
    const id = await startRun(controller, 'deviation-e2e', yaml);
    const journal = await waitForRunEnd(controller, id, 30_000);
    const elapsed = Date.now() - started;
    expect(journal.status).toBe('deviated');
    expect(journal.reason).toMatch(/fast-enough failed during the method/);
    expect(elapsed).toBeLessThan(20_000);
    // The method stopped at once: the kill step never ran, the latency fault was reverted.
    expect(journal.faults.map((fault) => fault.type)).toEqual(['network-latency']);
    expect(journal.faults[0]?.revertedAt).not.toBeNull();
    expect(journal.steadyState.before.every((result) => result.ok)).toBe(true);
    expect(journal.steadyState.during.some((result) => !result.ok)).toBe(true);
    expect(journal.steadyState.after.length).toBeGreaterThan(0);
    expect((await web.state()).running).toBe(true);
    await waitFor(async () => (await namespaceLeftovers(web.pid)).length === 0, { timeoutMs: 5000, message: 'namespace clean' });
    const after = await measureLatency(web.url, { samples: 10 });
    expect(after.median).toBeLessThan(100);
  });

  it('steady state not met before: nothing is injected and the run fails', async () => {
    const label = `pre-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using _agent = await startAgent(controller);
    const yaml = experimentYaml('before-e2e', label, `    - fault: container-kill
      target: web
`, {
      spec: `  steadyState:
    probes:
      - {name: wrong-body, type: http, url: "${web.url}", expect: {bodyContains: "this text is not there"}}
`,
    });
    const journal = await waitForRunEnd(controller, await startRun(controller, 'before-e2e', yaml));
    expect(journal.status).toBe('failed');
    expect(journal.reason).toMatch(/steady state not met before/);
    expect(journal.faults).toEqual([]);
    expect((await web.state()).running).toBe(true);
  });
});
