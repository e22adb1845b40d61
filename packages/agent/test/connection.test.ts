import { afterEach, describe, expect, it } from 'vitest';
import { HelloMessageSchema, PROTOCOL_VERSION } from '@faultline/shared';
import { agentSocketUrl, Backoff, createAgent, type Agent, type AgentOptions } from '../src/app.js';
import { Ledger } from '../src/ledger.js';
import {
  captureLogger,
  DB_ID,
  fakeDocker,
  fakeDriver,
  FakeController,
  FakeHost,
  PROTECTED_ID,
  sleep,
  tempDir,
  waitFor,
  WEB_ID,
} from './fakes.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Harness {
  agent: Agent;
  controller: FakeController;
  host: FakeHost;
  lines: Record<string, unknown>[];
  stateDir: string;
}

async function setUp(overrides: Partial<AgentOptions> = {}, options: { token?: string; before?: (stateDir: string) => Promise<void> } = {}): Promise<Harness> {
  const controller = new FakeController();
  cleanups.push(() => controller.close());
  const dir = tempDir();
  cleanups.push(dir.dispose);
  const host = new FakeHost();
  const { log, lines } = captureLogger();
  await options.before?.(dir.path);
  const agent = createAgent({
    controllerUrl: await controller.url(),
    token: options.token ?? controller.token,
    name: 'agent-a',
    labels: { zone: 'a' },
    stateDir: dir.path,
    leaseTimeoutMs: 5000,
    logger: log,
    docker: fakeDocker(),
    drivers: [fakeDriver(host, 'network-latency', 'sustained'), fakeDriver(host, 'container-kill', 'instant')],
    detectCapabilities: async () => ({ faults: ['network-latency', 'container-kill'], latencyMechanisms: ['proxy'], notes: [] }),
    reconnect: { initialMs: 20, maxMs: 100, authRetryMinMs: 50 },
    closeTimeoutMs: 3000,
    ...overrides,
  });
  cleanups.push(async () => {
    await agent.close();
  });
  return { agent, controller, host, lines, stateDir: dir.path };
}

const latencyInject = (faultId: string, durationMs: number, id = `req-${faultId}`) =>
  ({
    type: 'inject',
    id,
    faultId,
    runId: 'run-1',
    fault: 'network-latency',
    params: { latency: '100ms', jitter: '5ms', mechanism: 'auto' },
    containerId: WEB_ID,
    durationMs,
  }) as const;

describe('agentSocketUrl', () => {
  it('maps http to ws and https to wss and appends the agent path', () => {
    expect(agentSocketUrl('http://127.0.0.1:7070')).toBe('ws://127.0.0.1:7070/api/v1/agents/connect');
    expect(agentSocketUrl('https://ctl.example:8443/')).toBe('wss://ctl.example:8443/api/v1/agents/connect');
    expect(agentSocketUrl('https://ctl.example/faultline/')).toBe('wss://ctl.example/faultline/api/v1/agents/connect');
    expect(() => agentSocketUrl('ftp://x')).toThrow(/http, https, ws or wss/);
  });
});

describe('Backoff', () => {
  it('grows exponentially with full jitter up to the cap, and resets', () => {
    const top = new Backoff(250, 10_000, () => 0.999999);
    const ceilings = Array.from({ length: 8 }, () => top.next());
    expect(ceilings).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    top.reset();
    expect(top.next()).toBe(250);
    const bottom = new Backoff(250, 10_000, () => 0);
    expect(bottom.next()).toBe(0);
  });
});

describe('agent ↔ controller connection', () => {
  it('sends a valid hello first, with the agent token', async () => {
    const { agent, controller } = await setUp();
    await agent.start();
    const peer = await controller.connection();
    const first = await peer.next('hello');
    expect(peer.frames[0]).toBe(first);
    expect(HelloMessageSchema.safeParse(first).success).toBe(true);
    expect(first).toMatchObject({
      protocolVersion: PROTOCOL_VERSION,
      name: 'agent-a',
      labels: { zone: 'a' },
      leaseTimeoutMs: 5000,
      capabilities: { faults: ['network-latency', 'container-kill'], latencyMechanisms: ['proxy'] },
      activeFaults: [],
    });
    await peer.welcome();
    await waitFor(() => agent.state === 'connected', 2000, 'state connected');
  });

  it('answers an invalid frame with an error and keeps working', async () => {
    const { agent, controller, lines } = await setUp();
    await agent.start();
    const peer = await controller.connection();
    await peer.welcome();
    peer.sendRaw('{not json');
    peer.sendRaw(JSON.stringify({ type: 'inject', id: 'bad-1', faultId: 'f1' }));
    peer.sendRaw(JSON.stringify({ type: 'launch-missiles' }));
    const errors = await waitFor(() => {
      const found = peer.frames.filter((f) => f.type === 'error');
      return found.length >= 3 ? found : undefined;
    });
    for (const error of errors) expect(error).toMatchObject({ type: 'error', error: { code: 'invalid_frame', retryable: false } });
    expect(errors.find((e) => 'id' in e && e.id === 'bad-1')).toBeDefined();
    expect(lines.some((l) => l.msg === 'invalid frame from the controller')).toBe(true);
    peer.send({ type: 'ping', ts: 42 });
    expect(await peer.next('pong')).toEqual({ type: 'pong', ts: 42 });
    expect(peer.closed).toBeUndefined();
  });

  it('injects, answers injected with the container name, and reverts on request', async () => {
    const { agent, controller, host } = await setUp();
    await agent.start();
    const peer = await controller.connection();
    await peer.welcome();
    peer.send(latencyInject('f1', 60_000));
    const injected = await peer.next('injected');
    expect(injected).toMatchObject({ id: 'req-f1', faultId: 'f1', containerName: 'web-1', details: { fake: true } });
    expect(host.applied.has('f1')).toBe(true);
    // The driver got milliseconds, converted once from the manifest's duration strings.
    expect(host.injects[0]?.params).toEqual({ latencyMs: 100, jitterMs: 5, mechanism: 'auto' });
    expect(agent.activeFaults()).toMatchObject([{ faultId: 'f1', containerName: 'web-1', runId: 'run-1' }]);

    // A repeated inject (same fault id) answers again without applying twice.
    peer.send(latencyInject('f1', 60_000, 'req-f1-again'));
    await peer.next('injected', (m) => m.id === 'req-f1-again');
    expect(host.injects).toHaveLength(1);

    peer.send({ type: 'revert', id: 'rv-1', faultId: 'f1' });
    expect(await peer.next('reverted', (m) => m.id === 'rv-1')).toMatchObject({ faultId: 'f1', cause: 'requested' });
    expect(host.applied.size).toBe(0);
    // Reverting an unknown or already reverted fault succeeds.
    peer.send({ type: 'revert', id: 'rv-2', faultId: 'f1' });
    await peer.next('reverted', (m) => m.id === 'rv-2');
    peer.send({ type: 'revert', id: 'rv-3', faultId: 'never-seen' });
    await peer.next('reverted', (m) => m.id === 'rv-3');
  });

  it('answers a failed request with an error frame naming the problem', async () => {
    const { agent, controller } = await setUp();
    await agent.start();
    const peer = await controller.connection();
    await peer.welcome();
    peer.send({ ...latencyInject('p1', 60_000), containerId: PROTECTED_ID });
    expect(await peer.next('error', (m) => m.id === 'req-p1')).toMatchObject({ error: { code: 'invalid_request', message: expect.stringMatching(/protected/) } });
    peer.send({ ...latencyInject('bad-params', 60_000), params: { latency: 'fast' } });
    expect(await peer.next('error', (m) => m.id === 'req-bad-params')).toMatchObject({
      error: { code: 'invalid_request', message: expect.stringMatching(/params\.latency/) },
    });
    peer.send({ ...latencyInject('nb', 60_000), fault: 'network-loss', params: { percent: 10 } });
    expect(await peer.next('error', (m) => m.id === 'req-nb')).toMatchObject({ error: { code: 'unsupported' } });
  });

  it('lists matching containers, never protected ones', async () => {
    const { agent, controller } = await setUp();
    await agent.start();
    const peer = await controller.connection();
    await peer.welcome();
    peer.send({ type: 'list-containers', id: 'l1', selector: { labels: { app: 'web' } } });
    const answer = await peer.next('containers');
    expect(answer.containers.map((c) => c.name)).toEqual(['web-1']);
    peer.send({ type: 'list-containers', id: 'l2', selector: { namePattern: '(' } });
    expect(await peer.next('error', (m) => m.id === 'l2')).toMatchObject({ error: { code: 'invalid_request' } });
  });

  it('reverts a sustained fault at its deadline without the controller, and says so', async () => {
    const { agent, controller, host } = await setUp();
    await agent.start();
    const peer = await controller.connection();
    await peer.welcome();
    peer.send(latencyInject('d1', 300));
    const injected = await peer.next('injected');
    expect(host.applied.has('d1')).toBe(true);
    // The controller says nothing more.
    const reverted = await peer.next('reverted', (m) => m.faultId === 'd1', 3000);
    expect(reverted).toMatchObject({ cause: 'deadline' });
    expect(reverted.id).toBeUndefined();
    expect(host.applied.has('d1')).toBe(false);
    expect(host.revertedAt.get('d1')! - injected.appliedAt).toBeGreaterThanOrEqual(290);
    expect(agent.activeFaults()).toEqual([]);
  });

  it('reverts at the deadline while disconnected and reports it after reconnecting', async () => {
    const { agent, controller, host } = await setUp();
    await agent.start();
    const peer = await controller.connection();
    await peer.welcome();
    peer.send(latencyInject('d2', 400));
    await peer.next('injected');
    controller.refuseWith = 503;
    peer.ws.terminate();
    await waitFor(() => !host.applied.has('d2'), 3000, 'the deadline revert');
    controller.refuseWith = undefined;
    const again = await controller.connection(1, 5000);
    const hello = await again.next('hello');
    expect(hello.activeFaults).toEqual([]);
    await again.welcome();
    expect(await again.next('reverted', (m) => m.faultId === 'd2')).toMatchObject({ cause: 'deadline' });
  });

  it('reverts everything when the controller goes silent for the lease timeout', async () => {
    const { agent, controller, host, lines } = await setUp({ leaseTimeoutMs: 300 });
    await agent.start();
    const peer = await controller.connection();
    await peer.welcome();
    peer.send(latencyInject('l1', 60_000));
    peer.send({ ...latencyInject('l2', 60_000), containerId: DB_ID });
    await peer.next('injected', (m) => m.faultId === 'l1');
    await peer.next('injected', (m) => m.faultId === 'l2');
    // Pings keep the lease: nothing is reverted while they flow.
    for (let i = 0; i < 5; i += 1) {
      await sleep(120);
      peer.send({ type: 'ping', ts: i });
    }
    expect(host.applied.size).toBe(2);
    const silentSince = peer.lastSentAt;
    await waitFor(() => host.applied.size === 0, 3000, 'the lease revert');
    for (const faultId of ['l1', 'l2']) expect(host.revertedAt.get(faultId)! - silentSince).toBeGreaterThanOrEqual(290);
    expect(lines.some((l) => typeof l.msg === 'string' && l.msg.includes('lease timeout'))).toBe(true);
    // The silent socket is cut; the agent reconnects and reports the reverts.
    const again = await controller.connection(1, 5000);
    await again.welcome();
    const causes = await waitFor(() => {
      const frames = again.frames.filter((f) => f.type === 'reverted');
      return frames.length === 2 ? frames : undefined;
    });
    expect(causes.map((f) => f.type === 'reverted' && f.cause)).toEqual(['lease', 'lease']);
  });

  it('keeps counting the lease while disconnected', async () => {
    const { agent, controller, host } = await setUp({ leaseTimeoutMs: 400 });
    await agent.start();
    const peer = await controller.connection();
    await peer.welcome();
    peer.send(latencyInject('x1', 60_000));
    await peer.next('injected');
    const lastFrame = peer.lastSentAt;
    controller.refuseWith = 503;
    peer.ws.terminate();
    await waitFor(() => host.applied.size === 0, 3000, 'the lease revert while disconnected');
    expect(host.revertedAt.get('x1')! - lastFrame).toBeGreaterThanOrEqual(390);
    expect(controller.upgradeAttempts).toBeGreaterThan(1);
  });

  it('reconnects after the controller closes the socket, and lists its faults in the new hello', async () => {
    const { agent, controller, lines } = await setUp();
    await agent.start();
    const peer = await controller.connection();
    await peer.welcome();
    peer.send(latencyInject('r1', 60_000));
    await peer.next('injected');
    peer.ws.close(1012, 'controller restarting');
    const again = await controller.connection(1, 5000);
    const hello = await again.next('hello');
    expect(hello.activeFaults).toMatchObject([{ faultId: 'r1', runId: 'run-1', type: 'network-latency', containerId: WEB_ID, containerName: 'web-1' }]);
    await again.welcome();
    await waitFor(() => agent.state === 'connected', 2000, 'state connected');
    // A connection dropped right after its welcome is suspicious, and the log says why it might be.
    expect(lines.some((l) => typeof l.msg === 'string' && l.msg.includes('is another agent using the name agent-a'))).toBe(true);
  });

  it('logs a refused token clearly and keeps retrying', async () => {
    const { agent, controller, lines } = await setUp({}, { token: 'wrong-token' });
    await agent.start();
    await waitFor(() => controller.upgradeAttempts >= 2, 3000, 'a second attempt');
    const line = lines.find((l) => l.status === 401);
    expect(line?.level).toBe(50);
    expect(String(line?.msg)).toMatch(/refused the agent token.*--token.*FAULTLINE_AGENT_TOKEN/);
    expect(JSON.stringify(lines)).not.toContain('wrong-token');
    expect(controller.peers).toHaveLength(0);
  });

  it('reverts what the ledger holds before it connects, and reports it after the welcome', async () => {
    const { agent, controller, host } = await setUp(
      {},
      {
        before: async (stateDir) => {
          await new Ledger(stateDir).record({
            faultId: 'old-1',
            runId: 'run-0',
            type: 'network-latency',
            containerId: WEB_ID,
            containerName: 'web-1',
            pid: 4242,
            params: { latencyMs: 100, jitterMs: 0, mechanism: 'proxy' },
            artifacts: {},
            deadline: null,
          });
        },
      },
    );
    const report = await agent.start();
    expect(report.recovered).toEqual(['old-1']);
    // Recovered before any connection was made.
    expect(host.recovered).toEqual(['old-1']);
    expect(controller.upgradeAttempts).toBe(0);
    const peer = await controller.connection();
    await peer.welcome();
    expect(await peer.next('reverted', (m) => m.faultId === 'old-1')).toMatchObject({ cause: 'startup' });
  });

  it('close() reverts every fault, tells the controller, closes the socket, and is idempotent', async () => {
    const { agent, controller, host } = await setUp();
    await agent.start();
    const peer = await controller.connection();
    await peer.welcome();
    peer.send(latencyInject('c1', 60_000));
    peer.send({ ...latencyInject('c2', 60_000), containerId: DB_ID });
    await peer.next('injected', (m) => m.faultId === 'c1');
    await peer.next('injected', (m) => m.faultId === 'c2');
    expect(host.applied.size).toBe(2);
    const first = agent.close();
    const second = agent.close();
    expect(second).toBe(first);
    const report = await first;
    expect(report).toMatchObject({ timedOut: false, failed: [] });
    expect(report.reverted.sort()).toEqual(['c1', 'c2']);
    expect(host.applied.size).toBe(0);
    expect(agent.state).toBe('closed');
    const closed = await peer.waitClosed();
    expect(closed.code).toBe(1001);
    expect(peer.frames.filter((f) => f.type === 'reverted').map((f) => f.type === 'reverted' && f.cause)).toEqual(['shutdown', 'shutdown']);
    await agent.close();
    expect(host.reverts.sort()).toEqual(['c1', 'c2']);
    // No reconnection after close.
    await sleep(200);
    expect(controller.peers).toHaveLength(1);
  });
});
