/** Probes with `from: {agents: ...}` run on the chosen agents' hosts (SPEC §3), recorded per agent. */
import { describe, expect, it } from 'vitest';
import { startWebContainer } from './fixtures/docker.js';
import { startAgent, startController, startRun, waitForRunEnd } from './fixtures/faultline.js';

describe('probes on agents (real processes, real Docker)', () => {
  it('runs http and tcp probes on each chosen agent and fails the run when one agent sees a failure', async () => {
    const label = `aprobe-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using east = await startAgent(controller, { labels: 'zone=east' });
    await using west = await startAgent(controller, { labels: 'zone=west' });
    const yaml = (probes: string): string => `apiVersion: faultline/v1
kind: Experiment
metadata: {name: agent-probes}
spec:
  targets:
    # Both agents run on this one machine and see the same containers: aim the fault through one of them.
    web: {agents: {labels: {zone: east}}, containers: {labels: {e2e: "${label}"}}}
  steadyState:
    probes:
${probes}
  method:
    - {fault: network-latency, target: web, duration: 1s, params: {latency: 50ms, ports: [80]}}
`;
    const good = `      - {name: from-east, type: http, url: "${web.url}", expect: {bodyContains: ok}, from: {agents: {labels: {zone: east}}}, when: [before, after]}
      - {name: tcp-everywhere, type: tcp, host: 127.0.0.1, port: ${web.port}, from: {agents: {labels: {}}}}`;
    const journal = await waitForRunEnd(controller, await startRun(controller, 'agent-probes', yaml(good)));
    expect(journal.status).toBe('completed');
    const before = journal.steadyState.before;
    expect(before.filter((r) => r.probe === 'from-east').map((r) => r.from)).toEqual([`agent:${east.name}`]);
    expect(before.filter((r) => r.probe === 'tcp-everywhere').map((r) => r.from).sort()).toEqual([`agent:${east.name}`, `agent:${west.name}`].sort());
    expect(before.every((r) => r.ok)).toBe(true);

    // A probe only one agent can pass: the port is closed, so west's and east's failures are both named.
    const bad = `      - {name: closed-port, type: tcp, host: 127.0.0.1, port: 1, timeout: 1s, from: {agents: {names: ["${east.name}", "${west.name}"]}}}`;
    const failed = await waitForRunEnd(controller, await startRun(controller, 'agent-probes', yaml(bad)));
    expect(failed.status).toBe('failed');
    expect(failed.reason).toContain(`agent:${east.name}`);
    expect(failed.reason).toContain(`agent:${west.name}`);
    expect(failed.faults).toEqual([]);
  });

  it('refuses exec probes on agents at upload', async () => {
    await using controller = await startController({ args: ['--allow-exec-probes'] });
    const response = await controller.api<{ details: { path: string; message: string; line?: number }[] }>(
      'PUT',
      '/api/v1/experiments/exec-agents',
      `apiVersion: faultline/v1
kind: Experiment
metadata: {name: exec-agents}
spec:
  targets:
    web: {containers: {labels: {app: x}}}
  steadyState:
    probes:
      - {name: cmd, type: exec, command: [/bin/true], from: {agents: {labels: {zone: a}}}}
  method:
    - {fault: container-kill, target: web}
`,
      'application/yaml',
    );
    expect(response.status).toBe(400);
    expect(response.body.details[0]).toMatchObject({ path: 'spec.steadyState.probes.0.from', line: 9 });
  });
});
