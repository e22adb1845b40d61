/**
 * The fault conformance suite: one parameterised suite over the fault catalogue that every fault
 * type must pass, on real Docker, a real kernel and the real controller and agent processes.
 *
 * Why through the controller and agent rather than by calling a driver in-process: that is the path
 * a user's fault takes (manifest, validation, target selection, wire protocol, parameter conversion,
 * the fault manager, the ledger, the driver), and it is what the invariants are about; a driver
 * called directly would skip the ledger-before-apply rule, the protected-target check and the
 * manager's idempotency. The drivers' own edge cases are in packages/agent/test/*.docker.test.ts.
 *
 * For every fault type:
 *   1. measure what a client sees without the fault (baseline);
 *   2. inject it with a run, and observe the effect from outside (client timing, connect failure
 *      rate, timeouts, transfer rate, Docker's state and an HTTP client's view);
 *   3. network faults (restart policy `reapply`): `docker restart` the target mid-fault; the fault must
 *      be applied again in the new network namespace and observed there like in step 2;
 *   4. revert it (sustained: abort the run, which reverts; instant: nothing to revert), check the
 *      container is back in its state and the host is clean: no FL- chain or Faultline rule, no
 *      qdisc, no latency proxy, no ledger entry;
 *   5. revert again, twice, as a no-op: a halt (revert-all on the agent) and a replay of the fault's
 *      own ledger entry at an agent start (the crash-recovery path, run on an already reverted
 *      fault); the host must look exactly the same afterwards;
 *   6. sustained faults only: inject again, kill -9 the agent, start it again: the fault is gone
 *      before the agent reconnects (its log says so in that order) and the container is back.
 *
 * A meta-test fails when a type of the shared catalogue has no driver in the agent's registry, no
 * case here, or no example manifest in experiments/.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_CATALOGUE, FAULT_TYPES, parseManifest, type FaultType, type RunJournal } from '@faultline/shared';
import { FAULT_DRIVERS } from '../../packages/agent/src/faults/registry.js';
import { targetRestartPolicy } from '../../packages/agent/src/faults/types.js';
import { docker, startWebContainer, type WebContainer } from './fixtures/docker.js';
import { getRun, ROOT, startAgent, startController, startRun, waitForApplied, waitForRunEnd, type AgentHandle, type ControllerHandle } from './fixtures/faultline.js';
import { measureLatency, waitFor } from './fixtures/http.js';
import { namespaceLeftovers, proxyPids } from './fixtures/leftovers.js';
import { connectOnce, connectStats, containerIp, download } from './fixtures/network.js';
import { bridgeGateway, containerCanConnect, helloServer, httpAnswer, putFile } from './fixtures/observe.js';
import { tempDir } from './fixtures/process.js';

/** A download's size, time and rate in bit/s. */
async function rate(url: string): Promise<{ bytes: number; seconds: number; bitsPerSecond: number }> {
  const r = await download(url, 30_000);
  return { ...r, bitsPerSecond: r.bytesPerSecond * 8 };
}

/** What a case works on. */
interface Scene {
  web: WebContainer;
  /** The container's bridge address at start (direct connects, no docker-proxy in between). */
  ip: string;
  /** Clean-ups the case registers (servers, files); run after the case, even when it failed. */
  defer: (() => Promise<void>)[];
}

/** One fault type's conformance case. Observations assert and return a one-line summary. */
interface ConformanceCase {
  params: Record<string, unknown>;
  /** What a client sees without the fault; handed to the other hooks. */
  baseline(scene: Scene): Promise<Record<string, number>>;
  /** The effect, observed from outside while the fault is in place (or, for an instant fault, after it). */
  active(scene: Scene, baseline: Record<string, number>, faultId: string): Promise<string>;
  /** The container back in its state (instant faults: as the fault left it), observed from outside. */
  reverted(scene: Scene, baseline: Record<string, number>): Promise<string>;
  /** Cheap check that a sustained fault is in place (for the crash test). */
  inPlace?(scene: Scene, faultId: string): Promise<boolean>;
}

const LATENCY_MS = 200;
const LOSS_PERCENT = 50;
const LOSS_PORT = 81;
const RATE_BITS = 1_000_000;
const BLOB_BYTES = 192 * 1024;

async function state(web: WebContainer) {
  return web.state();
}

/** The URL of the (current) published port: a stopped or restarted container may get a new one. */
async function urlNow(web: WebContainer): Promise<string> {
  return `http://127.0.0.1:${await web.hostPort().catch(() => web.port)}/`;
}

async function httpNow(web: WebContainer, timeoutMs: number): Promise<number | string> {
  return httpAnswer(await urlNow(web), timeoutMs);
}

/** True when Faultline has something in the container's current network namespace. */
async function namespaceHoldsFault(web: WebContainer): Promise<boolean> {
  const s = await web.state();
  return s.running && (await namespaceLeftovers(s.pid)).length > 0;
}

async function waitForHttp200(web: WebContainer, what: string): Promise<void> {
  await waitFor(async () => (await httpNow(web, 1000)) === 200, { timeoutMs: 10_000, intervalMs: 100, message: `${what}: HTTP 200 from ${web.name}` });
}

const CASES: Record<FaultType, ConformanceCase> = {
  'network-latency': {
    params: { latency: `${LATENCY_MS}ms`, ports: [80] },
    async baseline({ web }) {
      const m = await measureLatency(await urlNow(web), { samples: 10, intervalMs: 20 });
      expect(m.errors).toBe(0);
      return { median: m.median };
    },
    async active({ web }, base) {
      const m = await measureLatency(await urlNow(web), { samples: 7, intervalMs: 20 });
      expect(m.errors).toBe(0);
      const added = m.median - base.median!;
      // Median of 7 on a shared 2-core machine: at least 80% of the latency, at most 1.5x (scheduling
      // delays only ever add time; the proxy never subtracts any).
      expect(added).toBeGreaterThanOrEqual(LATENCY_MS * 0.8);
      expect(added).toBeLessThanOrEqual(LATENCY_MS * 1.5);
      return `median +${added.toFixed(0)} ms over ${base.median!.toFixed(1)} ms (7 requests, asked ${LATENCY_MS} ms)`;
    },
    async reverted({ web }, base) {
      const m = await measureLatency(await urlNow(web), { samples: 10, intervalMs: 20 });
      expect(m.errors).toBe(0);
      expect(m.median).toBeLessThan(base.median! + 30);
      return `median ${m.median.toFixed(1)} ms`;
    },
    async inPlace({ web }) {
      // The redirect chain in the container's current namespace (the proxy process alone may be an old one).
      return namespaceHoldsFault(web);
    },
  },

  'network-loss': {
    // Port 81 is closed in the container: the kernel answers each SYN that arrives with a RST at once,
    // so a missing answer is a dropped packet, never a busy server. Port 80 must stay untouched.
    params: { percent: LOSS_PERCENT, ports: [LOSS_PORT] },
    async baseline({ ip }) {
      const s = await connectStats(ip, LOSS_PORT, 50, { timeoutMs: 500, concurrency: 25 });
      // A local kernel that takes 500 ms to answer a SYN is a loaded machine, not a fault: allow one.
      expect(s.failed, JSON.stringify(s)).toBeLessThanOrEqual(1);
      return { failureRate: s.failureRate };
    },
    async active({ ip }) {
      // network-loss drops incoming packets (ingress), so a connect gets no answer when its SYN is
      // dropped: with probability p = percent/100. 200 attempts: the count is binomial, sd =
      // sqrt(p(1-p)/n) = 0.035 at p = 0.5; +-0.15 is 4.2 sd (a false alarm about once in 40 000
      // runs), while "no loss" (0) and "both directions" (0.75) are both far outside.
      const s = await connectStats(ip, LOSS_PORT, 200, { timeoutMs: 500, concurrency: 25 });
      expect(s.failureRate, JSON.stringify(s)).toBeGreaterThanOrEqual(LOSS_PERCENT / 100 - 0.15);
      expect(s.failureRate, JSON.stringify(s)).toBeLessThanOrEqual(LOSS_PERCENT / 100 + 0.15);
      // Only the given port: connects to port 80 (one at a time: httpd's accept queue is short) all work.
      const other = await connectStats(ip, 80, 10, { timeoutMs: 500, concurrency: 1 });
      expect(other.answered, JSON.stringify(other)).toBeGreaterThanOrEqual(9);
      return `${(s.failureRate * 100).toFixed(0)}% of ${s.attempts} TCP connects to port ${LOSS_PORT} unanswered (asked ${LOSS_PERCENT}%); port 80: ${other.answered}/10 connected`;
    },
    async reverted({ ip }) {
      const s = await connectStats(ip, LOSS_PORT, 50, { timeoutMs: 500, concurrency: 25 });
      expect(s.failed, JSON.stringify(s)).toBeLessThanOrEqual(1);
      return `${s.answered}/${s.attempts} connects answered`;
    },
    async inPlace({ web }) {
      return namespaceHoldsFault(web);
    },
  },

  'network-blackhole': {
    // Everything, both directions.
    params: {},
    async baseline(scene) {
      const gateway = await bridgeGateway();
      const server = await helloServer(gateway);
      scene.defer.push(async () => server[Symbol.asyncDispose]());
      expect(await connectOnce(scene.ip, 80, 1000)).toBe('connected');
      expect(await containerCanConnect(scene.web.id, server.host, server.port)).toBe(true);
      return { serverPort: server.port };
    },
    async active({ web, ip }, base) {
      const gateway = await bridgeGateway();
      // In: connects to the container get no answer at all (dropped, not refused).
      const inbound = await Promise.all([connectOnce(ip, 80, 700), connectOnce(ip, 80, 700), connectOnce(ip, 80, 700)]);
      expect(inbound).toEqual(['timeout', 'timeout', 'timeout']);
      // Out: the container cannot reach a listener on the host's bridge address (nc's 1 s connect timeout).
      expect(await containerCanConnect(web.id, gateway, base.serverPort!)).toBe(false);
      return 'inbound connects time out (3/3), outbound connect from the container fails';
    },
    async reverted({ web, ip }, base) {
      expect(await connectOnce(ip, 80, 1000)).toBe('connected');
      expect(await containerCanConnect(web.id, await bridgeGateway(), base.serverPort!)).toBe(true);
      return 'inbound and outbound connect again';
    },
    async inPlace({ web }) {
      return namespaceHoldsFault(web);
    },
  },

  'network-bandwidth': {
    params: { rate: '1mbit' },
    async baseline({ web, ip }) {
      const dir = await tempDir('faultline-blob-');
      try {
        const file = join(dir.path, 'blob');
        await writeFile(file, randomBytes(BLOB_BYTES));
        await putFile(web.id, '/www/blob', file);
      } finally {
        await dir[Symbol.asyncDispose]();
      }
      const r = await rate(`http://${ip}/blob`);
      expect(r.bytes).toBe(BLOB_BYTES);
      return { bitsPerSecond: r.bitsPerSecond };
    },
    async active({ ip }) {
      const r = await rate(`http://${ip}/blob`);
      expect(r.bytes).toBe(BLOB_BYTES);
      // tbf counts whole frames (headers ~4% of 1500-byte packets) and lets a small burst through:
      // the payload rate lands a little under the rate. 0.6x-1.2x is wide enough for a loaded machine
      // (delays only slow a transfer further) and far from the unshaped baseline (hundreds of Mbit/s).
      expect(r.bitsPerSecond).toBeGreaterThanOrEqual(RATE_BITS * 0.6);
      expect(r.bitsPerSecond).toBeLessThanOrEqual(RATE_BITS * 1.2);
      return `${(r.bitsPerSecond / 1e6).toFixed(2)} Mbit/s for ${BLOB_BYTES / 1024} KiB in ${r.seconds.toFixed(2)} s (asked 1 Mbit/s)`;
    },
    async reverted({ ip }, base) {
      const r = await rate(`http://${ip}/blob`);
      expect(r.bitsPerSecond).toBeGreaterThan(RATE_BITS * 10);
      return `${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s (baseline ${(base.bitsPerSecond! / 1e6).toFixed(0)} Mbit/s)`;
    },
    async inPlace({ web }) {
      return namespaceHoldsFault(web);
    },
  },

  'container-pause': {
    params: {},
    async baseline({ web }) {
      expect(await httpNow(web, 2000)).toBe(200);
      return { pid: (await state(web)).pid };
    },
    async active({ web }) {
      const s = await state(web);
      expect(s).toMatchObject({ status: 'paused', paused: true });
      // docker-proxy and the kernel still accept the connection; the frozen server never answers.
      expect(await httpNow(web, 800)).toBe('timeout');
      return 'Docker: paused; HTTP client: no answer within 800 ms';
    },
    async reverted({ web }, base) {
      expect(await state(web)).toMatchObject({ status: 'running', running: true, paused: false, pid: base.pid });
      expect(await httpNow(web, 2000)).toBe(200);
      return 'Docker: running (same process); HTTP 200';
    },
    async inPlace({ web }) {
      return (await state(web)).paused;
    },
  },

  'container-stop': {
    params: { timeout: '1s' },
    async baseline({ web }) {
      expect(await httpNow(web, 2000)).toBe(200);
      return { pid: (await state(web)).pid };
    },
    async active({ web }) {
      const s = await state(web);
      expect(s).toMatchObject({ status: 'exited', running: false });
      const answer = await httpAnswer(web.url, 1500);
      expect(answer).not.toBe(200);
      return `Docker: exited (code ${s.exitCode}); HTTP client: ${answer}`;
    },
    async reverted({ web }, base) {
      const s = await state(web);
      expect(s).toMatchObject({ status: 'running', running: true, paused: false });
      expect(s.pid).not.toBe(base.pid);
      await waitForHttp200(web, 'started again');
      return 'Docker: running (new process); HTTP 200';
    },
    async inPlace({ web }) {
      return !(await state(web)).running;
    },
  },

  'container-kill': {
    params: { signal: 'SIGKILL' },
    async baseline({ web }) {
      expect(await httpNow(web, 2000)).toBe(200);
      return { pid: (await state(web)).pid };
    },
    async active({ web }) {
      const s = await waitFor(async () => {
        const now = await state(web);
        return now.running ? undefined : now;
      }, { timeoutMs: 5000, message: 'the container to die' });
      expect(s).toMatchObject({ status: 'exited', exitCode: 137 });
      const answer = await httpAnswer(web.url, 1500);
      expect(answer).not.toBe(200);
      return `Docker: exited with 137; HTTP client: ${answer}`;
    },
    async reverted({ web }) {
      // Instant: nothing to revert, and nothing brings the container back behind the user's back.
      expect(await state(web)).toMatchObject({ status: 'exited', running: false });
      return 'Docker: still exited (instant fault, nothing to revert)';
    },
  },

  'container-restart': {
    params: { timeout: '1s' },
    async baseline({ web }) {
      expect(await httpNow(web, 2000)).toBe(200);
      const s = await state(web);
      return { pid: s.pid, startedAtMs: Date.parse(s.startedAt) };
    },
    async active({ web }, base) {
      const s = await state(web);
      expect(s).toMatchObject({ status: 'running', running: true });
      expect(s.pid).not.toBe(base.pid);
      expect(Date.parse(s.startedAt)).toBeGreaterThan(base.startedAtMs!);
      await waitForHttp200(web, 'restarted');
      return `Docker: running, new process (pid ${base.pid} -> ${s.pid}), new start time; HTTP 200`;
    },
    async reverted({ web }, base) {
      const s = await state(web);
      expect(s).toMatchObject({ status: 'running', running: true });
      expect(s.pid).not.toBe(base.pid);
      expect(await httpNow(web, 2000)).toBe(200);
      return 'Docker: running (nothing to revert)';
    },
  },
};

function manifest(name: string, type: FaultType, label: string, params: Record<string, unknown>): string {
  const sustained = FAULT_CATALOGUE[type].kind === 'sustained';
  // Sustained faults hold far longer than the test needs: the test reverts them by aborting the run.
  const step = { fault: type, target: 'web', params, ...(sustained ? { duration: '2m' } : {}) };
  return JSON.stringify({
    apiVersion: 'faultline/v1',
    kind: 'Experiment',
    metadata: { name },
    spec: { targets: { web: { containers: { labels: { e2e: label } } } }, method: [step], safety: { timeout: '5m' } },
  });
}

/** Fault types used by the example manifests in experiments/. */
async function exampleFaultTypes(): Promise<Map<string, string[]>> {
  const dir = resolve(ROOT, 'experiments');
  const byType = new Map<string, string[]>();
  for (const file of (await readdir(dir)).filter((name) => /\.ya?ml$/.test(name)).sort()) {
    const parsed = parseManifest(await readFile(join(dir, file), 'utf8'));
    if (!parsed.ok || parsed.manifest.kind !== 'Experiment') continue;
    for (const step of parsed.manifest.spec.method) {
      if ('fault' in step) byType.set(step.fault, [...(byType.get(step.fault) ?? []), file]);
    }
  }
  return byType;
}

describe('fault catalogue', () => {
  it('every fault type has a driver, a conformance case and an example in experiments/ (and nothing else)', async () => {
    const drivers = new Map(FAULT_DRIVERS.map((driver) => [driver.type, driver]));
    const examples = await exampleFaultTypes();
    const problems: string[] = [];
    for (const type of FAULT_TYPES) {
      const driver = drivers.get(type);
      if (!driver) problems.push(`${type}: no driver in FAULT_DRIVERS (packages/agent/src/faults/registry.ts)`);
      else if (driver.kind !== FAULT_CATALOGUE[type].kind) problems.push(`${type}: the driver is ${driver.kind}, the catalogue says ${FAULT_CATALOGUE[type].kind}`);
      if (!Object.hasOwn(CASES, type)) problems.push(`${type}: no case in test/e2e/conformance.test.ts`);
      if (!examples.has(type)) problems.push(`${type}: no experiments/*.yaml uses it`);
    }
    for (const type of drivers.keys()) if (!(FAULT_TYPES as readonly string[]).includes(type)) problems.push(`${type}: a driver for a type the shared catalogue does not know`);
    for (const type of Object.keys(CASES)) if (!(FAULT_TYPES as readonly string[]).includes(type)) problems.push(`${type}: a case for a type the shared catalogue does not know`);
    expect(problems).toEqual([]);
  });
});

describe('fault conformance (real controller and agent, real Docker)', () => {
  let controller: ControllerHandle;
  let agent: AgentHandle;
  const summary: string[] = [];

  beforeAll(async () => {
    controller = await startController();
    agent = await startAgent(controller, { leaseTimeout: '30s' });
  });

  afterAll(async () => {
    await agent?.[Symbol.asyncDispose]();
    await controller?.[Symbol.asyncDispose]();
    if (summary.length > 0) process.stdout.write(`\n${summary.join('\n')}\n`);
  });

  /** The agent's own log lines (pino JSON) of its current process. */
  function agentLog(): { msg?: string; fault?: string }[] {
    return agent.process.stdout.flatMap((line) => {
      try {
        return [JSON.parse(line) as { msg?: string; fault?: string }];
      } catch {
        return [];
      }
    });
  }

  /** Starts the agent again (same name and state dir) and waits until it is connected. */
  async function restartAgent(): Promise<void> {
    await agent.restart();
    await agent.process.waitForLine(/connecting to the controller/, 20_000);
  }

  async function ledgerFile(faultId: string): Promise<string | null> {
    return readFile(join(agent.stateDir, 'ledger', `${faultId}.json`), 'utf8').catch(() => null);
  }

  /** Everything a user or an operator could tell about the container and what Faultline left. */
  async function snapshot(web: WebContainer, faultId: string) {
    const s = await state(web);
    return {
      status: s.status,
      paused: s.paused,
      pid: s.pid,
      startedAt: s.startedAt,
      leftovers: s.running ? await namespaceLeftovers(s.pid) : 'not running',
      proxies: await proxyPids(faultId),
      ledger: await ledgerFile(faultId),
    };
  }

  async function expectClean(web: WebContainer, faultId: string): Promise<void> {
    const snap = await snapshot(web, faultId);
    expect(snap.proxies).toEqual([]);
    expect(snap.ledger).toBeNull();
    if (snap.leftovers !== 'not running') expect(snap.leftovers).toEqual([]);
  }

  it.each(FAULT_TYPES)('%s: inject, observe, revert, clean, revert again as a no-op (and crash clean-up)', async (type) => {
    const c = CASES[type];
    const sustained = FAULT_CATALOGUE[type].kind === 'sustained';
    if (agent.process.exitStatus) await restartAgent();
    const label = `conf-${type}-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    const scene: Scene = { web, ip: await containerIp(web.id), defer: [] };
    const runs: string[] = [];
    try {
      const baseline = await c.baseline(scene);

      // Inject.
      const runId = await startRun(controller, `conf-${type}`, manifest(`conf-${type}`, type, label, c.params));
      runs.push(runId);
      let journal: RunJournal = sustained ? await waitForApplied(controller, runId) : await waitForRunEnd(controller, runId, 30_000);
      const fault = journal.faults[0]!;
      expect(fault).toMatchObject({ type, containerId: web.id });
      expect(fault.error).toBeUndefined();
      const injectMs = fault.appliedAt! - fault.requestedAt;
      const faultId = fault.faultId;
      // Ledger before apply (sustained): the entry is there while the fault holds; instant faults keep none.
      const entry = await ledgerFile(faultId);
      if (sustained) expect(JSON.parse(entry!)).toMatchObject({ faultId, type, containerId: web.id, state: 'active' });
      else expect(entry).toBeNull();

      // Observe.
      const effect = await c.active(scene, baseline, faultId);

      // The target restarts mid-fault: the fault follows it into its new network namespace.
      let restart = '';
      const driver = FAULT_DRIVERS.find((d) => d.type === type);
      if (driver && targetRestartPolicy(driver) === 'reapply') {
        const oldPid = (await web.state()).pid;
        await docker(['restart', '-t', '0', web.id]);
        const restartedAt = Date.now();
        expect((await web.state()).pid).not.toBe(oldPid);
        scene.ip = await containerIp(web.id);
        await waitFor(() => c.inPlace!(scene, faultId), { timeoutMs: 10_000, intervalMs: 50, message: `${type} applied again after the target restarted` });
        const reappliedMs = Date.now() - restartedAt;
        const again = await c.active(scene, baseline, faultId);
        restart = `; target restarted: applied again in its new namespace after ${reappliedMs} ms (${again})`;
      }

      // Revert.
      let revertMs = 0;
      if (sustained) {
        const abortAt = Date.now();
        const aborted = await controller.api('POST', `/api/v1/runs/${runId}/abort`, { reason: 'conformance: revert' });
        expect(aborted.status).toBe(202);
        journal = await waitForRunEnd(controller, runId, 30_000);
        expect(journal.status).toBe('aborted');
        expect(journal.faults[0]).toMatchObject({ revertCause: 'requested' });
        expect(journal.faults[0]!.revertError).toBeUndefined();
        revertMs = journal.faults[0]!.revertedAt! - abortAt;
      } else {
        expect(journal.status).toBe('completed');
      }
      const back = await c.reverted(scene, baseline);
      await expectClean(web, faultId);
      const clean = await snapshot(web, faultId);

      // Revert again, 1: a halt reverts everything the agent holds; for this fault, nothing.
      const halt = await controller.api<{ confirmed: string[]; unconfirmed: unknown[] }>('POST', '/api/v1/halt', { reason: 'conformance: revert again' });
      expect(halt.status).toBe(200);
      expect(halt.body).toMatchObject({ confirmed: [agent.name], unconfirmed: [] });
      expect(await snapshot(web, faultId)).toEqual(clean);
      expect((await controller.api('POST', '/api/v1/resume')).status).toBe(200);

      // Revert again, 2 (sustained): replay the fault's own ledger entry at an agent start, as after
      // a crash that came between the revert and the removal of the entry.
      if (sustained) {
        agent.process.kill('SIGTERM');
        await agent.process.exited;
        await writeFile(join(agent.stateDir, 'ledger', `${faultId}.json`), entry!, { mode: 0o600 });
        await restartAgent();
        const lines = agentLog();
        expect(lines.some((line) => line.msg === 'leftover fault reverted' && line.fault === faultId)).toBe(true);
        expect(lines.filter((line) => /could not revert/.test(line.msg ?? ''))).toEqual([]);
        expect(await snapshot(web, faultId)).toEqual(clean);
        await c.reverted(scene, baseline);
      }

      // Crash clean-up (sustained): kill -9 the agent mid-fault; its next start reverts before it connects.
      let crash = '';
      if (sustained) {
        const crashRun = await startRun(controller, `conf-${type}-crash`, manifest(`conf-${type}-crash`, type, label, c.params));
        runs.push(crashRun);
        const crashFault = (await waitForApplied(controller, crashRun)).faults[0]!.faultId;
        expect(await c.inPlace!(scene, crashFault)).toBe(true);
        agent.process.kill('SIGKILL');
        await agent.process.exited;
        // Still in place with the agent dead: nothing outside the agent reverts it (the latency proxy's
        // own backstop only fires at the deadline).
        expect(await c.inPlace!(scene, crashFault)).toBe(true);
        const restartedAt = Date.now();
        await restartAgent();
        const recoveryMs = Date.now() - restartedAt;
        const lines = agentLog();
        const revertedAt = lines.findIndex((line) => line.msg === 'leftover fault reverted' && line.fault === crashFault);
        const connectingAt = lines.findIndex((line) => line.msg === 'connecting to the controller');
        expect(revertedAt).toBeGreaterThanOrEqual(0);
        expect(revertedAt).toBeLessThan(connectingAt);
        await c.reverted(scene, baseline);
        await expectClean(web, crashFault);
        const failed = await waitForRunEnd(controller, crashRun, 30_000);
        expect(failed.status).toBe('failed');
        crash = `; kill -9 mid-fault: reverted by the next start before connecting (start to connected ${recoveryMs} ms)`;
      }

      summary.push(
        `conformance ${type}: effect: ${effect}; inject ${injectMs} ms${restart}; ${sustained ? `revert ${revertMs} ms (abort to agent-confirmed, checked)` : 'instant'}; after: ${back}${crash}`,
      );
    } finally {
      for (const id of runs) {
        const run = await getRun(controller, id).catch(() => undefined);
        if (run && !['completed', 'deviated', 'aborted', 'failed'].includes(run.status)) await controller.api('POST', `/api/v1/runs/${id}/abort`, {}).catch(() => undefined);
      }
      for (const cleanup of scene.defer.splice(0).reverse()) await cleanup().catch(() => undefined);
    }
  });
});
