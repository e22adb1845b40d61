import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  AGENT_WS_PATH,
  ErrorCode,
  FaultlineError,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  decodeAgentMessage,
  injectGraceMs,
  encodeMessage,
  errorMessage,
  type AgentMessage,
  type AgentSelector,
  type AgentView,
  type ControllerMessage,
  type ContainerInfo,
  type ContainerSelector,
  type InjectMessage,
  type WireError,
} from '@faultline/shared';
import { tokensEqual } from '../api/auth.js';
import type { AuthFailureLimiter } from '../api/auth-limiter.js';
import { AgentSession } from './agent-session.js';
import { FrameBudget } from './frame-budget.js';

/** Options of {@link Hub}. */
export interface HubOptions {
  agentToken: string;
  log: Logger;
  /** How often the controller pings each agent. Default 2000 ms, capped at a third of the agent's lease. */
  heartbeatIntervalMs?: number;
  /** Time limit of one request to an agent. Default 15 s. */
  requestTimeoutMs?: number;
  /** Blocks addresses after repeated wrong agent tokens (429 on the upgrade). Default none. */
  authLimiter?: AuthFailureLimiter;
  /** Frames one connection may send per second before it is closed (1008). Default 2000. */
  maxFramesPerSecond?: number;
  /** Invalid frames one connection may send per 10 s before it is closed (1008). Default 100. */
  maxInvalidFramesPer10s?: number;
}

type RevertedMessage = Extract<AgentMessage, { type: 'reverted' }>;

/** An inject or revert request to an agent. */
export type FaultRequest = { agent: string; faultId: string } & ({ action: 'inject'; fault: InjectMessage['fault'] } | { action: 'revert' });

/** One settled inject or revert request, timed by the controller (for metrics). */
export type FaultRequestTiming = FaultRequest & {
  /** False when the agent answered with an error, did not answer in time, or was not connected. */
  ok: boolean;
  durationMs: number;
};

/**
 * Events: `reverted` (agent, message) for reverts the agent did on its own; `agent-connected`, `agent-disconnected` (name);
 * `fault-request` once each inject or revert request has settled.
 */
export interface HubEvents {
  reverted: [agent: string, message: RevertedMessage];
  'fault-request': [timing: FaultRequestTiming];
  'agent-connected': [agent: AgentSession];
  'agent-disconnected': [agent: string];
}

/** The agents' WebSocket endpoint: authentication, sessions, requests. */
export class Hub extends EventEmitter<HubEvents> {
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<string, AgentSession>();
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly options: HubOptions) {
    super();
    this.log = options.log.child({ component: 'hub' });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  }

  /** Handles an HTTP upgrade; returns false when the path is not the agent endpoint. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = (request.url ?? '').split('?')[0];
    if (path !== AGENT_WS_PATH) return false;
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (this.closed) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    const remote = request.socket.remoteAddress;
    const verdict = this.options.authLimiter?.check(remote);
    if (verdict && !verdict.allowed) {
      socket.end(`HTTP/1.1 429 Too Many Requests\r\nRetry-After: ${verdict.retryAfterSeconds}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return true;
    }
    if (!tokensEqual(token, this.options.agentToken)) {
      this.log.warn({ remote }, 'agent connection refused: wrong or missing agent token');
      if (this.options.authLimiter?.fail(remote)) this.log.warn({ remote }, 'too many wrong agent tokens: address blocked for a while');
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, request.socket.remoteAddress ?? '?'));
    return true;
  }

  private accept(ws: WebSocket, remote: string): void {
    let session: AgentSession | undefined;
    const helloTimer = setTimeout(() => {
      this.log.warn({ remote }, 'agent sent no hello within 10s; closing');
      ws.close(4000, 'hello expected');
    }, 10_000);
    const frames = new FrameBudget(this.options.maxFramesPerSecond ?? 2000, 1000);
    const invalidFrames = new FrameBudget(this.options.maxInvalidFramesPer10s ?? 100, 10_000);
    let cut = false;
    const cutOff = (why: string): void => {
      cut = true;
      this.log.warn({ remote, agent: session?.name }, `closing an agent connection: ${why}`);
      ws.close(1008, why);
      setTimeout(() => ws.terminate(), 1000).unref();
    };
    ws.on('message', (raw) => {
      if (cut) return;
      if (!frames.take()) {
        cutOff(`more than ${frames.limit} frames in one second`);
        return;
      }
      const decoded = decodeAgentMessage(raw);
      if (!decoded.ok) {
        if (!invalidFrames.take()) {
          cutOff(`more than ${invalidFrames.limit} invalid frames in 10 seconds`);
          return;
        }
        this.log.warn({ remote, agent: session?.name, err: decoded.error.message }, 'invalid frame from agent');
        this.sendError(ws, decoded.error, decoded.id);
        return;
      }
      const message = decoded.message;
      if (!session) {
        if (message.type !== 'hello') {
          this.sendError(ws, { code: ErrorCode.InvalidFrame, message: 'the first frame must be hello', retryable: false });
          return;
        }
        clearTimeout(helloTimer);
        session = this.register(ws, message, remote);
        return;
      }
      session.lastSeen = Date.now();
      this.dispatch(session, message);
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      if (session) {
        session.disconnected();
        if (this.sessions.get(session.name) === session) this.emit('agent-disconnected', session.name);
      }
    });
    ws.on('error', (error) => this.log.warn({ remote, err: error }, 'agent socket error'));
  }

  private register(ws: WebSocket, hello: Extract<AgentMessage, { type: 'hello' }>, remote: string): AgentSession | undefined {
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      this.sendError(ws, {
        code: ErrorCode.ProtocolVersion,
        message: `protocol version ${hello.protocolVersion} is not supported; this controller speaks ${PROTOCOL_VERSION}`,
        retryable: false,
      });
      ws.close(4001, 'protocol version');
      return undefined;
    }
    const previous = this.sessions.get(hello.name);
    if (previous?.connected) {
      this.log.warn({ agent: hello.name }, 'agent reconnected; replacing its previous connection');
      previous.ws.terminate();
    }
    const session = new AgentSession(ws, hello, this.log);
    this.sessions.set(hello.name, session);
    const interval = Math.max(100, Math.min(this.options.heartbeatIntervalMs ?? 2000, Math.floor(hello.leaseTimeoutMs / 3)));
    session.send({ type: 'welcome', protocolVersion: PROTOCOL_VERSION, heartbeatIntervalMs: interval });
    session.startPing(interval, () => {
      this.log.warn({ agent: session.name }, 'agent silent for three heartbeats; closing its connection');
      ws.terminate();
    });
    this.log.info(
      { agent: hello.name, remote, labels: hello.labels, capabilities: hello.capabilities, activeFaults: hello.activeFaults.length },
      'agent connected',
    );
    this.emit('agent-connected', session);
    return session;
  }

  private dispatch(session: AgentSession, message: AgentMessage): void {
    switch (message.type) {
      case 'hello':
        this.sendError(session.ws, { code: ErrorCode.InvalidFrame, message: 'hello was already received', retryable: false });
        return;
      case 'pong':
        return;
      case 'containers':
      case 'injected':
      case 'probe-result':
      case 'reverted-all':
        if (message.type === 'injected') session.activeFaults.add(message.faultId);
        if (message.type === 'reverted-all') for (const id of message.reverted) session.activeFaults.delete(id);
        if (!session.settle(message)) this.log.warn({ agent: session.name, type: message.type }, 'reply to an unknown request');
        return;
      case 'reverted':
        if (!message.error) session.activeFaults.delete(message.faultId);
        if (!session.settle(message)) this.emit('reverted', session.name, message);
        return;
      case 'error':
        if (message.id !== undefined && session.settle(message)) return;
        this.log.warn({ agent: session.name, error: message.error }, 'agent reported an error');
        return;
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  private sendError(ws: WebSocket, error: WireError, id?: string): void {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(encodeMessage(id === undefined ? { type: 'error', error } : { type: 'error', id, error }));
  }

  /** Every agent seen since start, connected or not. */
  agents(): AgentView[] {
    return [...this.sessions.values()].map((session) => session.view()).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Connected sessions matching a selector (all connected agents when none). */
  connected(selector?: AgentSelector): AgentSession[] {
    return [...this.sessions.values()]
      .filter((session) => session.connected)
      .filter((session) => {
        if (!selector) return true;
        if (selector.names && !selector.names.includes(session.name)) return false;
        for (const [key, value] of Object.entries(selector.labels ?? {})) {
          if (session.hello.labels[key] !== value) return false;
        }
        return true;
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  session(name: string): AgentSession | undefined {
    const session = this.sessions.get(name);
    return session?.connected ? session : undefined;
  }

  private require(name: string): AgentSession {
    const session = this.session(name);
    if (!session) throw new FaultlineError(ErrorCode.AgentLost, `agent ${name} is not connected`, { retryable: true });
    return session;
  }

  private timeout(): number {
    return this.options.requestTimeoutMs ?? 15_000;
  }

  async listContainers(agent: string, selector: ContainerSelector): Promise<ContainerInfo[]> {
    const reply = await this.require(agent).request({ type: 'list-containers', selector }, this.timeout());
    if (reply.type === 'containers') return reply.containers;
    throw replyError(agent, reply);
  }

  async inject(agent: string, order: Omit<InjectMessage, 'type' | 'id'>): Promise<Extract<AgentMessage, { type: 'injected' }>> {
    return this.timed({ action: 'inject', agent, faultId: order.faultId, fault: order.fault }, async () => {
      const reply = await this.require(agent).request({ type: 'inject', ...order }, this.timeout() + injectGraceMs(order.fault, order.params));
      if (reply.type === 'injected') return reply;
      throw replyError(agent, reply);
    });
  }

  async revert(agent: string, faultId: string): Promise<RevertedMessage> {
    return this.timed({ action: 'revert', agent, faultId }, async () => {
      const reply = await this.require(agent).request({ type: 'revert', faultId }, this.timeout());
      if (reply.type === 'reverted' && !reply.error) return reply;
      throw replyError(agent, reply);
    });
  }

  /** Runs a fault request and emits `fault-request` with its duration and outcome. */
  private async timed<T>(request: FaultRequest, send: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let ok = false;
    try {
      const reply = await send();
      ok = true;
      return reply;
    } finally {
      this.emit('fault-request', { ...request, ok, durationMs: performance.now() - started });
    }
  }

  /** Runs one attempt of a network probe on an agent's host. */
  async probe(agent: string, probe: Extract<ControllerMessage, { type: 'probe' }>['probe'], timeoutMs: number): Promise<Extract<AgentMessage, { type: 'probe-result' }>> {
    const reply = await this.require(agent).request({ type: 'probe', probe }, timeoutMs);
    if (reply.type === 'probe-result') return reply;
    throw replyError(agent, reply);
  }

  /** Tells one agent to revert everything. */
  async revertAll(agent: string, reason: string, timeoutMs: number): Promise<Extract<AgentMessage, { type: 'reverted-all' }>> {
    const reply = await this.require(agent).request({ type: 'revert-all', reason }, timeoutMs);
    if (reply.type === 'reverted-all') return reply;
    throw replyError(agent, reply);
  }

  /** Closes every agent socket and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    const closing = [...this.wss.clients].map(
      (ws) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            ws.terminate();
            resolve();
          }, 2000);
          ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          ws.close(1001, 'controller shutting down');
        }),
    );
    await Promise.allSettled(closing);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function replyError(agent: string, reply: AgentMessage): FaultlineError {
  if (reply.type === 'error' || (reply.type === 'reverted' && reply.error)) {
    const error = reply.error!;
    return new FaultlineError(error.code, `agent ${agent}: ${error.message}`, { retryable: error.retryable, details: error.details });
  }
  return new FaultlineError(ErrorCode.Internal, `agent ${agent} answered with an unexpected ${reply.type}: ${errorMessage(reply)}`);
}
