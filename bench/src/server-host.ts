/**
 * The server side of the fan-out, halt and memory benchmarks, in its own process (forked with an
 * IPC channel, see proc.ts): either the real Faultline controller (`createController` from
 * packages/controller/dist, the code `faultline controller` runs) or, as the anchor, a bare `ws`
 * server that broadcasts one frame and counts acknowledgements. Timings of a fan-out are taken here,
 * on the server's clock, from the first send to each acknowledgement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { createController, type Controller } from '@faultline/controller';
import { startProfiling, stopProfiling } from './profiler.js';
import { fullGc, serveRpc } from './rpc-server.js';

export const API_TOKEN = 'bench-api-token';
export const AGENT_TOKEN = 'bench-agent-token';

/** What a fan-out measured, in ms from its first send. */
export interface FanoutResult {
  /** Time until the last acknowledgement. */
  completionMs: number;
  /** Each acknowledgement's time. */
  acksMs: number[];
  /** Requests that failed (Faultline: error replies or timeouts). */
  failed: number;
  /** Server CPU time spent during the fan-out (user + system, ms). */
  serverCpuMs: number;
}

let controller: Controller | undefined;
let dataDir: string | undefined;
let anchor: { http: Server; wss: WebSocketServer; clients: Set<WebSocket>; onAck: ((id: number) => void) | undefined } | undefined;

async function listenAnchor(): Promise<string> {
  const http = createServer((_request, response) => response.writeHead(404).end());
  // The controller's hub uses the same options: no compression, 1 MiB frames.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const state: NonNullable<typeof anchor> = { http, wss, clients: new Set(), onAck: undefined };
  http.on('upgrade', (request, socket, head) => {
    wss.handleUpgrade(request, socket, head, (ws) => {
      state.clients.add(ws);
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString('utf8')) as { type?: string; id?: number };
        if (frame.type === 'ack' && typeof frame.id === 'number') state.onAck?.(frame.id);
      });
      ws.on('close', () => state.clients.delete(ws));
      ws.on('error', () => undefined);
    });
  });
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
  anchor = state;
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Faultline: one `inject` (container-kill, instant) per connected agent through the hub, all at once, as a run's fault step does. */
async function fanoutFaultline(trial: number): Promise<FanoutResult> {
  if (!controller) throw new Error('no controller');
  const hub = controller.hub;
  const sessions = hub.connected();
  const acksMs = new Array<number>(sessions.length).fill(Number.NaN);
  let failed = 0;
  const cpu0 = cpuMs();
  const started = performance.now();
  await Promise.all(
    sessions.map((session, index) =>
      hub
        .inject(session.name, {
          faultId: `bench-t${trial}-${index}`,
          runId: `bench-fanout-${trial}`,
          fault: 'container-kill',
          params: { signal: 'SIGKILL' },
          containerId: session.hello.labels.container ?? 'missing',
          durationMs: null,
        })
        .then(
          () => {
            acksMs[index] = performance.now() - started;
          },
          () => {
            failed += 1;
          },
        ),
    ),
  );
  const completionMs = performance.now() - started;
  return { completionMs, acksMs: acksMs.filter((value) => Number.isFinite(value)), failed, serverCpuMs: cpuMs() - cpu0 };
}

/** The anchor: one frame sent to every client; each answers `{type: 'ack', id}`. */
async function fanoutAnchor(trial: number): Promise<FanoutResult> {
  if (!anchor) throw new Error('no anchor server');
  const state = anchor;
  const clients = [...state.clients];
  const acksMs: number[] = [];
  const cpu0 = cpuMs();
  const started = performance.now();
  const done = new Promise<void>((resolve) => {
    state.onAck = (id) => {
      if (id !== trial) return;
      acksMs.push(performance.now() - started);
      if (acksMs.length === clients.length) resolve();
    };
  });
  const frame = JSON.stringify({ type: 'command', id: trial, sentAt: Date.now(), params: { signal: 'SIGKILL' } });
  for (const ws of clients) ws.send(frame);
  await done;
  const completionMs = performance.now() - started;
  state.onAck = undefined;
  return { completionMs, acksMs, failed: 0, serverCpuMs: cpuMs() - cpu0 };
}

serveRpc({
  async 'start-controller'(args) {
    dataDir = mkdtempSync(join(tmpdir(), 'faultline-bench-controller-'));
    const logger = pino({ level: typeof args.logLevel === 'string' ? args.logLevel : 'warn' }, pino.destination({ dest: join(dataDir, 'controller.log'), sync: false }));
    controller = await createController({ host: '127.0.0.1', port: 0, dataDir, apiToken: API_TOKEN, agentToken: AGENT_TOKEN, logger });
    const url = await controller.listen();
    return { url, apiToken: API_TOKEN, agentToken: AGENT_TOKEN };
  },
  async 'start-anchor'() {
    return { url: await listenAnchor() };
  },
  connected() {
    if (controller) return controller.hub.connected().length;
    return anchor?.clients.size ?? 0;
  },
  fanout(args) {
    const trial = Number(args.trial);
    return controller ? fanoutFaultline(trial) : fanoutAnchor(trial);
  },
  /** Puts one sustained fault (network-latency, 10 min) on every connected agent, for a halt to revert. */
  async 'inject-sustained'(args) {
    if (!controller) throw new Error('no controller');
    const hub = controller.hub;
    const sessions = hub.connected();
    const results = await Promise.allSettled(
      sessions.map((session, index) =>
        hub.inject(session.name, {
          faultId: `bench-halt-${String(args.trial)}-${index}`,
          runId: `bench-halt-${String(args.trial)}`,
          fault: 'network-latency',
          params: { latency: '100ms', jitter: '0ms', mechanism: 'proxy' },
          containerId: session.hello.labels.container ?? 'missing',
          durationMs: 600_000,
        }),
      ),
    );
    return { injected: results.filter((r) => r.status === 'fulfilled').length, failed: results.filter((r) => r.status === 'rejected').length };
  },
  'profile-start': () => startProfiling(),
  'profile-stop': (args) => stopProfiling(String(args.file)),
  async memory() {
    await fullGc();
    const usage = process.memoryUsage();
    return { heapUsed: usage.heapUsed, rss: usage.rss, external: usage.external, arrayBuffers: usage.arrayBuffers };
  },
  async stop() {
    if (controller) await controller.close();
    if (anchor) {
      for (const ws of anchor.clients) ws.terminate();
      anchor.wss.close();
      anchor.http.close();
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    setTimeout(() => process.exit(0), 10);
    return true;
  },
});
