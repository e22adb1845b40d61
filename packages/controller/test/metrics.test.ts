/**
 * The controller's /metrics: an in-process controller, a scripted agent over a real WebSocket, real
 * HTTP probes against the controller's own /healthz, and `promtool check metrics` on the output.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AGENT_WS_PATH, PROTOCOL_VERSION, type RunJournal } from '@faultline/shared';
import { createController, type Controller } from '../src/app.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function newController(): Promise<{ controller: Controller; url: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'faultline-metrics-'));
  const controller = await createController({ port: 0, dataDir, apiToken: 'api', agentToken: 'agent', logger: pino({ level: 'silent' }) });
  const url = await controller.listen();
  cleanups.push(async () => {
    await controller.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { controller, url };
}

/** An agent that lists one container, applies every fault at once and reverts on request. */
async function scriptedAgent(url: string, name: string): Promise<WebSocket> {
  const ws = new WebSocket(url.replace('http', 'ws') + AGENT_WS_PATH, { headers: { authorization: 'Bearer agent' } });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.on('message', (raw: Buffer) => {
    const frame = JSON.parse(raw.toString('utf8')) as { type: string; id?: string; faultId?: string };
    const reply = (message: Record<string, unknown>) => ws.send(JSON.stringify({ id: frame.id, ...message }));
    switch (frame.type) {
      case 'ping':
        ws.send(JSON.stringify({ type: 'pong', ts: Date.now() }));
        return;
      case 'list-containers':
        reply({ type: 'containers', containers: [{ id: 'c0ffee', name: 'web-1', labels: { app: 'web' }, image: 'busybox', state: 'running' }] });
        return;
      case 'inject':
        reply({ type: 'injected', faultId: frame.faultId, appliedAt: Date.now(), containerName: 'web-1', details: { mechanism: 'proxy' } });
        return;
      case 'revert':
        reply({ type: 'reverted', faultId: frame.faultId, revertedAt: Date.now(), cause: 'requested' });
        return;
      case 'revert-all':
        reply({ type: 'reverted-all', reverted: [], failed: [] });
        return;
      default:
        return;
    }
  });
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      name,
      labels: {},
      version: 'test',
      capabilities: { faults: ['network-latency', 'container-kill'], latencyMechanisms: ['proxy'] },
      leaseTimeoutMs: 15_000,
      activeFaults: [],
    }),
  );
  cleanups.push(() => ws.close());
  return ws;
}

async function until<T>(fn: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function scrape(controller: Controller): Promise<{ text: string; contentType: string }> {
  const response = await controller.app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  return { text: response.body, contentType: String(response.headers['content-type']) };
}

/** The value of one series, e.g. `faultline_runs_total{experiment="x",status="completed"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function promtool(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) =>
      reject(new Error(`cannot run promtool (${error.message}): install it with scripts/ensure-tools.sh (Debian package prometheus)`)),
    );
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

function manifest(healthz: string): string {
  return `apiVersion: faultline/v1
kind: Experiment
metadata: {name: metrics-unit}
spec:
  targets:
    web: {containers: {labels: {app: web}}}
  steadyState:
    probes:
      - {name: health, type: http, url: "${healthz}", expect: {status: 200}, when: [before, during, after], interval: 100ms}
  method:
    - fault: network-latency
      target: web
      duration: 600ms
      params: {latency: 100ms}
`;
}

describe('/metrics', () => {
  let controller: Controller;
  let url: string;

  beforeEach(async () => {
    ({ controller, url } = await newController());
  });

  it('counts agents, runs, faults, probes and the halt, and passes promtool check metrics', async () => {
    const empty = await scrape(controller);
    expect(empty.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(empty.text, 'faultline_agents_connected')).toBe(0);
    expect(sample(empty.text, 'faultline_halted')).toBe(0);
    expect(sample(empty.text, 'faultline_faults_active{type="network-latency"}')).toBe(0);

    await scriptedAgent(url, 'agent-a');
    await until(() => controller.hub.connected().length === 1, 'the agent to connect');

    const put = await controller.app.inject({
      method: 'PUT',
      url: '/api/v1/experiments/metrics-unit',
      headers: { authorization: 'Bearer api', 'content-type': 'application/yaml' },
      payload: manifest(`${url}/healthz`),
    });
    expect(put.statusCode).toBeLessThan(300);
    const started = await controller.app.inject({
      method: 'POST',
      url: '/api/v1/experiments/metrics-unit/runs',
      headers: { authorization: 'Bearer api', 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(started.statusCode).toBe(202);
    const id = (JSON.parse(started.body) as { id: string }).id;

    // While the fault holds, it shows as active, and the run as in progress.
    await until(() => controller.runs.live(id)?.journal.faults.some((f) => f.appliedAt !== null && f.revertedAt === null), 'the fault to be applied');
    const during = (await scrape(controller)).text;
    expect(sample(during, 'faultline_agents_connected')).toBe(1);
    expect(sample(during, 'faultline_runs_active{experiment="metrics-unit"}')).toBe(1);
    expect(sample(during, 'faultline_faults_active{type="network-latency"}')).toBe(1);
    expect(sample(during, 'faultline_agent_faults_active{agent="agent-a"}')).toBe(1);

    await controller.runs.wait(id);
    const journal = controller.store.getRun(id) as RunJournal;
    expect(journal.status).toBe('completed');
    const probes = journal.steadyState.before.length + journal.steadyState.during.length + journal.steadyState.after.length;

    const after = (await scrape(controller)).text;
    expect(sample(after, 'faultline_runs_total{experiment="metrics-unit",status="completed"}')).toBe(1);
    expect(sample(after, 'faultline_runs_total{experiment="metrics-unit",status="deviated"}')).toBe(0);
    expect(sample(after, 'faultline_runs_active{experiment="metrics-unit"}')).toBeUndefined();
    expect(sample(after, 'faultline_faults_active{type="network-latency"}')).toBe(0);
    expect(sample(after, 'faultline_fault_apply_duration_seconds_count{type="network-latency",result="ok"}')).toBe(1);
    expect(sample(after, 'faultline_fault_revert_duration_seconds_count{type="network-latency",result="ok"}')).toBe(1);
    expect(sample(after, 'faultline_probe_duration_seconds_count{type="http",result="ok"}')).toBe(probes);
    expect(probes).toBeGreaterThanOrEqual(3);

    const halt = await controller.app.inject({
      method: 'POST',
      url: '/api/v1/halt',
      headers: { authorization: 'Bearer api', 'content-type': 'application/json' },
      payload: '{"reason":"metrics test"}',
    });
    expect(halt.statusCode).toBe(200);
    const halted = (await scrape(controller)).text;
    expect(sample(halted, 'faultline_halted')).toBe(1);

    const lint = await promtool(halted);
    expect(lint.output).toBe('');
    expect(lint.code).toBe(0);
  });

  it('promtool rejects a malformed exposition (the check can fail)', async () => {
    const lint = await promtool('# TYPE broken counter\nbroken 1\n');
    expect(lint.code).not.toBe(0);
    expect(lint.output).toMatch(/counter metrics should have "_total" suffix/);
  });

  it('keeps a registry per controller: two controllers in one process count separately', async () => {
    const second = await newController();
    await scriptedAgent(url, 'agent-a');
    await until(() => controller.hub.connected().length === 1, 'the agent to connect');
    expect(sample((await scrape(controller)).text, 'faultline_agents_connected')).toBe(1);
    expect(sample((await scrape(second.controller)).text, 'faultline_agents_connected')).toBe(0);
  });
});
