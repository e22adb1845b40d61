/**
 * Many agents in one process, over real WebSocket connections on loopback.
 *
 * - {@link startAgentFleet}: real Faultline agents (`createAgent` from packages/agent/dist: the
 *   connection, the fault manager, the on-disk ledger, the real container-kill driver) whose host
 *   adapters are in memory: a fake Docker engine with one container per agent, and a sustained
 *   `network-latency` driver that records in the ledger like the real one but changes nothing on the
 *   host. Ledgers live on tmpfs (/dev/shm): on a real fleet each agent has its own disk, here
 *   thousands share one, and the benchmark is about the software, not the disk.
 * - {@link startAnchorFleet}: bare `ws` clients, the anchor: each answers a command with an ack.
 */
import type { Logger } from 'pino';
import { pino } from 'pino';
import WebSocket from 'ws';
import { createAgent, type Agent } from '@faultline/agent';
import { AGENT_WS_PATH } from '@faultline/shared';
import { containerKillDriver } from '../../packages/agent/dist/faults/container-kill.js';
import type { FaultDriver } from '../../packages/agent/dist/faults/types.js';
import { filterCandidates, isProtectedContainer, type ContainerDetails, type ContainerInfo, type DockerHost } from '../../packages/agent/dist/host/docker.js';
import { sleep, tempDir } from './proc.js';

/** The container id of agent `index`'s only container (64 hex digits). */
export function containerIdOf(index: number): string {
  return index.toString(16).padStart(64, 'c');
}

/** A Docker engine in memory: one running container; kill does nothing. */
function memoryDocker(index: number): DockerHost {
  const info: ContainerInfo = { id: containerIdOf(index), name: `bench-${index}`, labels: { app: 'bench' }, state: 'running', image: 'busybox:bench' };
  const details: ContainerDetails = {
    id: info.id,
    name: info.name,
    pid: 4242,
    running: true,
    paused: false,
    status: 'running',
    exitCode: 0,
    restartCount: 0,
    exposedTcpPorts: [80],
    startedAt: '2026-01-01T00:00:00Z',
    labels: info.labels,
    image: info.image,
    networkMode: 'bridge',
  };
  const find = (id: string): ContainerDetails | null => (info.id.startsWith(id) ? details : null);
  const fake = {
    ping: async () => undefined,
    listContainers: async () => [{ ...info }],
    tryInspect: async (id: string) => find(id),
    inspect: async (id: string) => {
      const found = find(id);
      if (!found) throw new Error(`no such container ${id}`);
      return found;
    },
    kill: async () => undefined,
    // No container events happen here: the stream stays open until it is aborted.
    events: async function* (options: { signal?: AbortSignal; onSubscribed?: () => void } = {}) {
      options.onSubscribed?.();
      const signal = options.signal;
      if (signal && !signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      yield* [];
    },
    selfContainerIds: () => [],
    isProtected: (container: { id: string; labels: Record<string, string> }) => isProtectedContainer(container, []),
    filterCandidates: (list: readonly ContainerInfo[], filter: Parameters<typeof filterCandidates>[1]) => filterCandidates(list, filter, []),
  };
  return fake as unknown as DockerHost;
}

/** Revert times of the in-memory sustained faults, by fault id (performance.now() of this process). */
export type RevertClock = Map<string, number>;

/** A sustained `network-latency` driver that only writes the ledger, as the real driver does around its host changes. */
function memoryLatencyDriver(reverted: RevertClock): FaultDriver {
  return {
    type: 'network-latency',
    kind: 'sustained',
    async inject(ctx, order) {
      await ctx.ledger.record({
        faultId: order.faultId,
        runId: order.runId,
        type: order.type,
        containerId: order.target.containerId,
        containerName: order.target.containerName,
        pid: 4242,
        params: order.params,
        mechanism: 'proxy',
        artifacts: { chain: 'FL-000000000000', ports: [80] },
        deadline: order.durationMs === null ? null : Date.now() + order.durationMs,
      });
      await ctx.ledger.update(order.faultId, { state: 'active', artifacts: { proxyPid: 4243, listenPorts: [40000] } });
      let done = false;
      return {
        details: { mechanism: 'proxy', memory: true },
        revert: async () => {
          if (done) return;
          await ctx.ledger.remove(order.faultId);
          done = true;
          reverted.set(order.faultId, performance.now());
        },
      };
    },
    async recover(ctx, entry) {
      await ctx.ledger.remove(entry.faultId);
    },
  };
}

/** A fleet of real agents. */
export interface AgentFleet {
  readonly agents: Agent[];
  readonly reverted: RevertClock;
  close(): Promise<void>;
}

/** Options of {@link startAgentFleet}. */
export interface FleetOptions {
  url: string;
  token: string;
  count: number;
  /** Resolves with how many agents the server sees connected. */
  connected: () => Promise<number>;
  /** Agents' log level. Default `warn` (see docs/benchmarks.md: N agents' info lines would be serialised in one process). */
  logLevel?: string;
  /** Agents started at once before waiting for them. Default 250. */
  batch?: number;
  /** Name prefix. Default `bench`. */
  prefix?: string;
  /** Index of the first agent (to grow a fleet). Default 0. */
  first?: number;
}

/** Waits until `count()` reaches `target`. */
export async function waitForCount(count: () => Promise<number>, target: number, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    last = await count();
    if (last >= target) return;
    if (Date.now() > until) throw new Error(`${what}: ${last} of ${target} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Starts `count` real agents against `url` and waits until the server counts them all connected. */
export async function startAgentFleet(options: FleetOptions): Promise<AgentFleet> {
  const state = tempDir('fleet', true);
  const logger: Logger = pino({ level: options.logLevel ?? 'warn' }, pino.destination({ dest: `${state.path}/fleet.log`, sync: false }));
  const reverted: RevertClock = new Map();
  const agents: Agent[] = [];
  const batch = options.batch ?? 250;
  const first = options.first ?? 0;
  const prefix = options.prefix ?? 'bench';
  const drivers: FaultDriver[] = [containerKillDriver, memoryLatencyDriver(reverted)];
  const capabilities = { faults: ['container-kill', 'network-latency'], latencyMechanisms: ['proxy' as const], notes: [] };
  const already = await options.connected();
  try {
    for (let start = 0; start < options.count; start += batch) {
      const starting: Promise<unknown>[] = [];
      for (let offset = start; offset < Math.min(options.count, start + batch); offset += 1) {
        const index = first + offset;
        const agent = createAgent({
          controllerUrl: options.url,
          token: options.token,
          name: `${prefix}-${String(index).padStart(5, '0')}`,
          labels: { container: containerIdOf(index) },
          stateDir: `${state.path}/agent-${index}`,
          logger,
          drivers,
          docker: memoryDocker(index),
          detectCapabilities: async () => capabilities,
        });
        agents.push(agent);
        starting.push(agent.start());
      }
      await Promise.all(starting);
      await waitForCount(options.connected, already + Math.min(options.count, start + batch), 60_000, 'agents connected');
    }
  } catch (error) {
    await Promise.allSettled(agents.map((agent) => agent.close()));
    state.dispose();
    throw error;
  }
  return {
    agents,
    reverted,
    async close() {
      await Promise.allSettled(agents.map((agent) => agent.close()));
      logger.flush();
      state.dispose();
    },
  };
}

/** Bare `ws` clients: the anchor's fleet. */
export interface AnchorFleet {
  readonly sockets: WebSocket[];
  close(): Promise<void>;
}

// About the size of an agent's hello frame, sent once like the hello.
const HELLO = JSON.stringify({
  type: 'hello',
  protocolVersion: 1,
  name: 'bench-00000',
  labels: { container: containerIdOf(0) },
  version: '0.1.0',
  capabilities: { faults: ['container-kill', 'network-latency'], latencyMechanisms: ['proxy'] },
  leaseTimeoutMs: 15000,
  activeFaults: [],
});

/** Opens `count` bare ws clients that answer every `{id}` frame with `{type: 'ack', id}`. */
export async function startAnchorFleet(options: { url: string; count: number; connected: () => Promise<number>; batch?: number }): Promise<AnchorFleet> {
  const sockets: WebSocket[] = [];
  const batch = options.batch ?? 250;
  const url = options.url.replace(/^http/, 'ws');
  for (let start = 0; start < options.count; start += batch) {
    const opening: Promise<void>[] = [];
    for (let index = start; index < Math.min(options.count, start + batch); index += 1) {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      sockets.push(ws);
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString('utf8')) as { id: number };
        ws.send(JSON.stringify({ type: 'ack', id: frame.id }));
      });
      opening.push(
        new Promise<void>((resolve, reject) => {
          ws.once('open', () => {
            ws.send(HELLO);
            resolve();
          });
          ws.once('error', reject);
        }),
      );
    }
    await Promise.all(opening);
    await waitForCount(options.connected, Math.min(options.count, start + batch), 60_000, 'anchor clients connected');
  }
  return {
    sockets,
    async close() {
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === WebSocket.CLOSED) return resolve();
              ws.once('close', () => resolve());
              ws.terminate();
            }),
        ),
      );
    },
  };
}

/**
 * Thin agents: bare `ws` clients that speak just enough of the agent protocol (hello, pong, an
 * immediate `injected`) without the agent's code. Against the real controller they isolate the
 * controller's share of a fan-out from the agents' share.
 */
export async function startThinFleet(options: { url: string; token: string; count: number; connected: () => Promise<number>; batch?: number }): Promise<AnchorFleet> {
  const sockets: WebSocket[] = [];
  const batch = options.batch ?? 250;
  const url = `${options.url.replace(/^http/, 'ws')}${AGENT_WS_PATH}`;
  for (let start = 0; start < options.count; start += batch) {
    const opening: Promise<void>[] = [];
    for (let index = start; index < Math.min(options.count, start + batch); index += 1) {
      const ws = new WebSocket(url, { perMessageDeflate: false, headers: { authorization: `Bearer ${options.token}` } });
      sockets.push(ws);
      const name = `thin-${String(index).padStart(5, '0')}`;
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString('utf8')) as { type: string; id?: string; ts?: number; faultId?: string };
        if (frame.type === 'ping') ws.send(JSON.stringify({ type: 'pong', ts: frame.ts }));
        else if (frame.type === 'inject') {
          ws.send(JSON.stringify({ type: 'injected', id: frame.id, faultId: frame.faultId, appliedAt: Date.now(), containerName: name, details: {} }));
        }
      });
      opening.push(
        new Promise<void>((resolve, reject) => {
          ws.once('open', () => {
            ws.send(
              JSON.stringify({
                type: 'hello',
                protocolVersion: 1,
                name,
                labels: { container: containerIdOf(index) },
                version: '0.1.0',
                capabilities: { faults: ['container-kill'], latencyMechanisms: [] },
                leaseTimeoutMs: 15000,
                activeFaults: [],
              }),
            );
            resolve();
          });
          ws.once('error', reject);
        }),
      );
    }
    await Promise.all(opening);
    await waitForCount(options.connected, Math.min(options.count, start + batch), 60_000, 'thin agents connected');
  }
  return {
    sockets,
    async close() {
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === WebSocket.CLOSED) return resolve();
              ws.once('close', () => resolve());
              ws.terminate();
            }),
        ),
      );
    },
  };
}
