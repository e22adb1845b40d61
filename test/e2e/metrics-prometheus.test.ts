/**
 * A real Prometheus (Debian package) scrapes a real controller's /metrics every second, and
 * experiments' `prometheus` probes query that Prometheus: what the controller exports about a real
 * fault on a real container is what the probes see.
 */
import { describe, expect, it } from 'vitest';
import { startWebContainer } from './fixtures/docker.js';
import { waitFor } from './fixtures/http.js';
import { startAgent, startController, startRun, waitForRunEnd } from './fixtures/faultline.js';
import { startPrometheus } from './fixtures/prometheus.js';

describe('metrics scraped by a real Prometheus, queried by prometheus probes', () => {
  it('probes pass on what Prometheus scraped during a real fault, and a failed expectation fails the run with its message', async () => {
    const label = `prom-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using agent = await startAgent(controller);
    await using prometheus = await startPrometheus('faultline', [`127.0.0.1:${controller.port}`]);

    // Prometheus has scraped the controller, after the agent connected.
    await waitFor(async () => (await prometheus.query('up{job="faultline"}')) === 1, { timeoutMs: 15_000, message: 'up{job="faultline"} == 1' });
    await waitFor(async () => ((await prometheus.query('faultline_agents_connected')) ?? 0) >= 1, {
      timeoutMs: 15_000,
      message: 'Prometheus to see the connected agent',
    });

    const ok = `apiVersion: faultline/v1
kind: Experiment
metadata: {name: prom-ok}
spec:
  targets:
    web: {containers: {labels: {e2e: "${label}"}}}
  steadyState:
    probes:
      - name: agent-connected
        type: prometheus
        url: ${prometheus.url}
        query: faultline_agents_connected
        expect: {gte: 1}
        when: [before, after]
      - name: controller-up
        type: prometheus
        url: ${prometheus.url}
        query: up{job="faultline"}
        expect: {eq: 1}
        when: [before, during, after]
        interval: 1s
      # Prometheus scraped the latency fault while it was active (scrape interval 1s, fault 3s).
      - name: fault-was-seen
        type: prometheus
        url: ${prometheus.url}
        query: max_over_time(faultline_faults_active{type="network-latency"}[5m])
        expect: {gte: 1}
        when: [after]
  method:
    - fault: network-latency
      target: web
      duration: 3s
      params: {latency: 100ms, ports: [80]}
`;
    const okRun = await waitForRunEnd(controller, await startRun(controller, 'prom-ok', ok), 40_000);
    expect(okRun.status, `${okRun.reason}\n${agent.process.outputTail(10)}`).toBe('completed');
    expect(okRun.faults).toHaveLength(1);
    expect(okRun.faults[0]?.revertedAt).not.toBeNull();
    const results = [...okRun.steadyState.before, ...okRun.steadyState.during, ...okRun.steadyState.after];
    expect(results.every((r) => r.type === 'prometheus' && r.ok)).toBe(true);
    expect(okRun.steadyState.after.find((r) => r.probe === 'fault-was-seen')?.output).toMatch(/^query returned 1 in \d+ms$/);
    expect(okRun.steadyState.during.length).toBeGreaterThanOrEqual(2);

    // The finished run is counted, and Prometheus picks it up at its next scrape.
    await waitFor(async () => (await prometheus.query('faultline_runs_total{experiment="prom-ok",status="completed"}')) === 1, {
      timeoutMs: 10_000,
      message: 'faultline_runs_total of prom-ok to reach 1 in Prometheus',
    });
    expect(await prometheus.query('faultline_fault_apply_duration_seconds_count{type="network-latency",result="ok"}')).toBe(1);
    expect(await prometheus.query('sum(faultline_probe_duration_seconds_count{type="prometheus",result="ok"})')).toBe(results.length);

    const failing = `apiVersion: faultline/v1
kind: Experiment
metadata: {name: prom-fail}
spec:
  targets:
    web: {containers: {labels: {e2e: "${label}"}}}
  steadyState:
    probes:
      - name: must-be-halted
        type: prometheus
        url: ${prometheus.url}
        query: faultline_halted
        expect: {eq: 1}
  method:
    - fault: network-latency
      target: web
      duration: 3s
      params: {latency: 100ms, ports: [80]}
`;
    const failed = await waitForRunEnd(controller, await startRun(controller, 'prom-fail', failing), 20_000);
    expect(failed.status).toBe('failed');
    expect(failed.reason).toBe('steady state not met before the method (must-be-halted: expected value == 1, got 0); nothing was injected');
    expect(failed.faults).toEqual([]);
    expect(failed.steadyState.before[0]?.output).toMatch(/^query returned 0 in \d+ms$/);
    expect((await web.state()).running).toBe(true);
  });
});
