// Test doubles for the agent's unit tests: a fake "host" whose state the fake drivers change, a fake
// Docker engine, a log capture and a fake controller (a real WebSocket server on 127.0.0.1:0).
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { AGENT_WS_PATH, decodeAgentMessage, encodeMessage, type AgentMessage, type ControllerMessage } from '@faultline/shared';
import type { FaultDriver, FaultOrder } from '../src/faults/types.js';
import { filterCandidates, isProtectedContainer, type ContainerDetails, type ContainerInfo, type DockerHost } from '../src/host/docker.js';
import { AgentError } from '../src/host/errors.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 3000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A temporary state directory, removed by `dispose`. */
export function tempDir(): { path: string; dispose: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'faultline-agent-test-'));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

/** A pino logger whose lines are kept (parsed) in `lines`. */
export function captureLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

export const WEB_ID = 'a'.repeat(64);
export const DB_ID = 'b'.repeat(64);
export const PROTECTED_ID = 'c'.repeat(64);

/** Containers of the fake engine: web, db, and one labelled faultline.protected=true. */
export function sampleContainers(): ContainerInfo[] {
  return [
    { id: WEB_ID, name: 'web-1', labels: { app: 'web' }, state: 'running', image: 'busybox:test' },
    { id: DB_ID, name: 'db-1', labels: { app: 'db' }, state: 'running', image: 'busybox:test' },
    { id: PROTECTED_ID, name: 'vault', labels: { app: 'web', 'faultline.protected': 'true' }, state: 'running', image: 'busybox:test' },
  ];
}

/** A Docker engine double with the part of {@link DockerHost} the agent uses. */
export function fakeDocker(containers: ContainerInfo[] = sampleContainers()): DockerHost {
  const details = (c: ContainerInfo): ContainerDetails => ({
    id: c.id,
    name: c.name,
    pid: 4242,
    running: true,
    paused: false,
    status: 'running',
    exitCode: 0,
    restartCount: 0,
    exposedTcpPorts: [80],
    startedAt: '2026-01-01T00:00:00Z',
    labels: c.labels,
    image: c.image,
    networkMode: 'bridge',
  });
  const find = (id: string) => containers.find((c) => c.id === id || c.id.startsWith(id));
  const fake = {
    ping: async () => undefined,
    listContainers: async () => containers.map((c) => ({ ...c })),
    tryInspect: async (id: string) => {
      const c = find(id);
      return c ? details(c) : null;
    },
    inspect: async (id: string) => {
      const c = find(id);
      if (!c) throw new AgentError('not_found', `no such container ${id}`);
      return details(c);
    },
    kill: async () => undefined,
    // No container events happen in the fake engine: the stream stays open until it is aborted.
    events: async function* (options: { signal?: AbortSignal; onSubscribed?: () => void } = {}) {
      options.onSubscribed?.();
      if (options.signal && !options.signal.aborted) await new Promise((resolve) => options.signal!.addEventListener('abort', resolve, { once: true }));
      yield* [];
    },
    isProtected: (info: { id: string; labels: Record<string, string> }) => isProtectedContainer(info, []),
    filterCandidates: (list: readonly ContainerInfo[], filter: Parameters<typeof filterCandidates>[1]) => filterCandidates(list, filter, []),
  };
  return fake as unknown as DockerHost;
}

/** What the fake drivers did to the "host": `applied` is the observable effect. */
export class FakeHost {
  /** Faults in place right now, by fault id. */
  readonly applied = new Map<string, FaultOrder>();
  readonly injects: FaultOrder[] = [];
  readonly reverts: string[] = [];
  readonly recovered: string[] = [];
  readonly aborted: string[] = [];
  /** Epoch ms of each successful revert, by fault id. */
  readonly revertedAt = new Map<string, number>();
}

export interface FakeDriverBehaviour {
  /** Injection takes this long (abortable). */
  injectDelayMs?: number;
  /** Injection fails with fault_failed. */
  failInject?: boolean;
  /** The first n revert attempts fail. */
  failReverts?: number;
  /** An aborted injection cannot undo itself: its ledger entry stays. */
  leaveLedgerOnAbort?: boolean;
  /** The first n recover attempts fail. */
  failRecovers?: number;
}

/** A driver that records its fault in the ledger like the real ones, and changes {@link FakeHost}. */
export function fakeDriver(host: FakeHost, type: string, kind: 'sustained' | 'instant', behaviour: FakeDriverBehaviour = {}): FaultDriver {
  let failReverts = behaviour.failReverts ?? 0;
  let failRecovers = behaviour.failRecovers ?? 0;
  return {
    type,
    kind,
    async inject(ctx, order, signal) {
      host.injects.push(order);
      await ctx.ledger.record({
        faultId: order.faultId,
        runId: order.runId,
        type: order.type,
        containerId: order.target.containerId,
        containerName: order.target.containerName,
        pid: 4242,
        params: order.params,
        artifacts: {},
        deadline: order.durationMs === null ? null : Date.now() + order.durationMs,
      });
      if (behaviour.injectDelayMs && !signal.aborted) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, behaviour.injectDelayMs);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      if (signal.aborted || behaviour.failInject) {
        if (!(signal.aborted && behaviour.leaveLedgerOnAbort)) await ctx.ledger.remove(order.faultId);
        if (signal.aborted) {
          host.aborted.push(order.faultId);
          throw new AgentError('aborted', `${type} aborted`);
        }
        throw new AgentError('fault_failed', `${type} could not be applied (fake)`);
      }
      if (kind === 'instant') {
        await ctx.ledger.remove(order.faultId);
        return { revert: async () => undefined, details: { fake: true } };
      }
      host.applied.set(order.faultId, order);
      await ctx.ledger.update(order.faultId, { state: 'active' });
      let done = false;
      return {
        details: { fake: true, params: order.params },
        revert: async () => {
          if (done) return;
          if (failReverts > 0) {
            failReverts -= 1;
            throw new AgentError('revert_failed', `${type} revert failed (fake)`);
          }
          host.applied.delete(order.faultId);
          host.reverts.push(order.faultId);
          host.revertedAt.set(order.faultId, Date.now());
          await ctx.ledger.remove(order.faultId);
          done = true;
        },
      };
    },
    async recover(ctx, entry) {
      if (failRecovers > 0) {
        failRecovers -= 1;
        throw new AgentError('revert_failed', `${type} recover failed (fake)`);
      }
      host.recovered.push(entry.faultId);
      host.applied.delete(entry.faultId);
      await ctx.ledger.remove(entry.faultId);
    },
  };
}

/** One agent connection as the fake controller sees it. */
export class Peer {
  readonly frames: AgentMessage[] = [];
  readonly invalid: string[] = [];
  closed: { code: number; reason: string } | undefined;
  /** Epoch ms of the last frame the controller sent. */
  lastSentAt = 0;
  readonly #waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const decoded = decodeAgentMessage(data);
      if (decoded.ok) this.frames.push(decoded.message);
      else this.invalid.push(data.toString('utf8'));
      this.#wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this.#wake();
    });
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  send(message: ControllerMessage): void {
    this.sendRaw(encodeMessage(message));
  }

  sendRaw(text: string): void {
    this.lastSentAt = Date.now();
    this.ws.send(text);
  }

  /** The first received frame (in order) of `type` matching `match`, waiting for it if needed. */
  async next<T extends AgentMessage['type']>(
    type: T,
    match: (message: Extract<AgentMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 3000,
  ): Promise<Extract<AgentMessage, { type: T }>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find((f): f is Extract<AgentMessage, { type: T }> => f.type === type && match(f as Extract<AgentMessage, { type: T }>));
      if (found) return found;
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no ${type} frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends `welcome` (after the hello). */
  async welcome(heartbeatIntervalMs = 60_000): Promise<void> {
    await this.next('hello');
    this.send({ type: 'welcome', protocolVersion: 1, heartbeatIntervalMs });
  }

  async waitClosed(timeoutMs = 3000): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closed, timeoutMs, 'the agent socket to close');
  }
}

/** A fake controller: a real WebSocket server on 127.0.0.1 with a random port. */
export class FakeController {
  readonly peers: Peer[] = [];
  /** HTTP status to refuse upgrades with; undefined accepts those with the right token. */
  refuseWith: number | undefined;
  upgradeAttempts = 0;
  readonly #wss: WebSocketServer;
  readonly #ready: Promise<void>;

  constructor(readonly token = 'test-token') {
    this.#wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      path: AGENT_WS_PATH,
      verifyClient: (info: { req: IncomingMessage }, callback: (ok: boolean, code?: number, message?: string) => void) => {
        this.upgradeAttempts += 1;
        if (this.refuseWith !== undefined) return callback(false, this.refuseWith, 'refused');
        if (info.req.headers.authorization !== `Bearer ${this.token}`) return callback(false, 401, 'Unauthorized');
        return callback(true);
      },
    });
    this.#wss.on('connection', (ws) => this.peers.push(new Peer(ws)));
    this.#ready = new Promise((resolve) => this.#wss.once('listening', () => resolve()));
  }

  async url(): Promise<string> {
    await this.#ready;
    const address = this.#wss.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected address');
    return `http://127.0.0.1:${address.port}`;
  }

  /** The n-th connection (0-based), waiting for it. */
  async connection(index = 0, timeoutMs = 3000): Promise<Peer> {
    return waitFor(() => this.peers[index], timeoutMs, `agent connection #${index + 1}`);
  }

  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

export { WebSocket };
