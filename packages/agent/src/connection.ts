import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import {
  AGENT_WS_PATH,
  decodeControllerMessage,
  encodeMessage,
  ErrorCode,
  errorMessage,
  formatDuration,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  runNetworkProbe,
  toWireError,
  type AgentMessage,
  type ControllerMessage,
  type HelloMessage,
} from '@faultline/shared';
import type { FaultManager } from './fault-manager.js';

/** What the connection asks of the fault side: the requests a controller can make. */
export type RequestHandler = Pick<FaultManager, 'listContainers' | 'inject' | 'revert' | 'revertAll'>;

/** A `reverted` frame. */
export type RevertedMessage = Extract<AgentMessage, { type: 'reverted' }>;

/** The fields of the hello frame, read at each (re)connection. */
export type HelloFields = Omit<HelloMessage, 'type' | 'protocolVersion'>;

/**
 * Where the connection stands: `connecting` (socket opening), `handshake` (hello sent, no welcome
 * yet), `ready` (welcomed), `waiting` (backing off before the next attempt), `stopped`.
 */
export type ConnectionState = 'idle' | 'connecting' | 'handshake' | 'ready' | 'waiting' | 'stopped';

/** Reconnection delays. */
export interface BackoffOptions {
  /** First delay ceiling. Default 250 ms. */
  initialMs?: number;
  /** Largest delay ceiling. Default 10 s. */
  maxMs?: number;
  /** Least delay after the controller refused the token (401/403). Default 5 s. */
  authRetryMinMs?: number;
}

/** Options of {@link ControllerConnection}. */
export interface ConnectionOptions {
  /** The controller's base URL (`http(s)://` or `ws(s)://`). */
  controllerUrl: string;
  /** The agent token, sent as `Authorization: Bearer`. */
  token: string;
  log: Logger;
  /** Serves the controller's requests. */
  handler: RequestHandler;
  /** The hello frame's fields, asked for at each connection. */
  hello: () => HelloFields;
  /** Controller silence after which {@link ConnectionOptions.onLeaseExpired} runs (SAFETY 7.2). */
  leaseTimeoutMs: number;
  /** Reverts every fault; called when the lease expires. */
  onLeaseExpired: () => Promise<void> | void;
  /** Called on every state change. */
  onStateChange?: (state: ConnectionState) => void;
  backoff?: BackoffOptions;
  /** Notices kept while disconnected; the oldest are dropped beyond this. Default 1000. */
  maxQueued?: number;
  /** Time allowed for the WebSocket handshake. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** PEM certificate(s) to trust for a `wss://` controller, instead of the system's CAs. Default the system's. */
  ca?: string | Buffer;
}

/** The WebSocket URL of the agent endpoint of a controller base URL (http→ws, https→wss). */
export function agentSocketUrl(controllerUrl: string): string {
  let url: URL;
  try {
    url = new URL(controllerUrl);
  } catch {
    throw new Error(`invalid controller URL ${JSON.stringify(controllerUrl)}: write e.g. http://127.0.0.1:7070`);
  }
  const protocols: Record<string, string> = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
  const protocol = protocols[url.protocol];
  if (!protocol) {
    throw new Error(`invalid controller URL ${JSON.stringify(controllerUrl)}: the scheme must be http, https, ws or wss`);
  }
  const base = url.pathname.replace(/\/+$/, '');
  return `${protocol}//${url.host}${base}${AGENT_WS_PATH}`;
}

/** Exponential backoff with full jitter: each delay is uniform in [0, min(max, initial·2^attempt)]. */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(initialMs = 250, maxMs = 10_000, random: () => number = Math.random) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.#random = random;
  }

  /** Attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt += 1;
    return Math.round(this.#random() * ceiling);
  }

  reset(): void {
    this.#attempt = 0;
  }
}

const CLOSE_GRACE_MS = 2000;
/** Node's codes for a server certificate that does not verify. */
const TLS_TRUST_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
/**
 * The backoff is reset by a welcome, but only once that connection has lasted this long: a controller
 * that welcomes and then drops the agent at once (e.g. two agents fighting over one name) must not
 * be hammered with reconnections.
 */
const STABLE_CONNECTION_MS = 5000;

/**
 * The agent's link to its controller: connects with the agent token, says hello, answers the
 * controller's requests, reconnects with backoff, and keeps the lease (any frame from the controller
 * renews it; when none arrives for the lease timeout, every fault is reverted, connected or not).
 */
export class ControllerConnection {
  readonly url: string;
  readonly #options: ConnectionOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #authRetryMinMs: number;
  readonly #maxQueued: number;
  readonly #queue: RevertedMessage[] = [];
  #state: ConnectionState = 'idle';
  #ws: WebSocket | undefined;
  /** The current socket once the controller welcomed it. */
  #welcomed: WebSocket | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #lastFrameAt: number | undefined;
  #failures = 0;
  #welcomedAt = 0;

  constructor(options: ConnectionOptions) {
    this.#options = options;
    this.url = agentSocketUrl(options.controllerUrl);
    this.#log = options.log;
    this.#backoff = new Backoff(options.backoff?.initialMs, options.backoff?.maxMs);
    this.#authRetryMinMs = options.backoff?.authRetryMinMs ?? 5000;
    this.#maxQueued = options.maxQueued ?? 1000;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Epoch ms of the last frame from the controller, if any. */
  get lastFrameAt(): number | undefined {
    return this.#lastFrameAt;
  }

  /** Starts connecting; reconnects until {@link stop}. */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#connect();
  }

  /** No more reconnection; the current socket, if any, stays open until {@link stop}. */
  stopReconnecting(): void {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    if (this.#state !== 'stopped') this.#setState('stopped');
  }

  /** Stops for good: no reconnection, no lease, the socket closed (1001) and, after a grace period, cut. */
  async stop(): Promise<void> {
    this.stopReconnecting();
    clearTimeout(this.#leaseTimer);
    this.#leaseTimer = undefined;
    if (this.#queue.length > 0) {
      this.#log.warn({ dropped: this.#queue.map((m) => m.faultId) }, `dropping ${this.#queue.length} revert notices the controller never received`);
      this.#queue.length = 0;
    }
    const ws = this.#ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, CLOSE_GRACE_MS);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (ws.readyState === WebSocket.OPEN) ws.close(1001, 'agent shutting down');
      else ws.terminate();
    });
  }

  /**
   * Tells the controller about a revert it did not ask for: sent now when welcomed, else queued and
   * sent after the next welcome (the oldest are dropped, with a log line, beyond the queue limit).
   */
  notify(message: RevertedMessage): void {
    if (this.#welcomed && this.#send(this.#welcomed, message)) return;
    if (this.#state === 'stopped') {
      this.#log.warn({ fault: message.faultId, cause: message.cause }, 'not connected: the controller will not hear of this revert');
      return;
    }
    this.#queue.push(message);
    while (this.#queue.length > this.#maxQueued) {
      const dropped = this.#queue.shift();
      this.#log.warn({ fault: dropped?.faultId, cause: dropped?.cause }, 'revert notice queue full: dropping the oldest');
    }
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#options.onStateChange?.(state);
  }

  #connect(): void {
    this.#reconnectTimer = undefined;
    this.#setState('connecting');
    let rejectedStatus: number | undefined;
    let retryAfterMs: number | undefined;
    let lastError: Error | undefined;
    const ws = new WebSocket(this.url, {
      headers: { Authorization: `Bearer ${this.#options.token}` },
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: this.#options.handshakeTimeoutMs ?? 10_000,
      perMessageDeflate: false,
      ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
    });
    this.#ws = ws;

    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      rejectedStatus = res.statusCode;
      const retryAfter = Number(res.headers['retry-after']);
      if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = Math.min(retryAfter, 600) * 1000;
      res.resume();
      ws.terminate();
    });
    ws.on('error', (error) => {
      lastError = error;
    });
    ws.on('open', () => {
      if (this.#state === 'stopped') {
        ws.close(1001, 'agent shutting down');
        return;
      }
      this.#setState('handshake');
      const hello: HelloMessage = { type: 'hello', protocolVersion: PROTOCOL_VERSION, ...this.#options.hello() };
      this.#log.debug({ url: this.url, activeFaults: hello.activeFaults.length }, 'connected; hello sent');
      this.#send(ws, hello);
    });
    ws.on('message', (data) => this.#onFrame(ws, data));
    ws.on('close', (code, reason) => {
      if (this.#ws === ws) this.#ws = undefined;
      const wasReady = this.#welcomed === ws;
      if (wasReady) this.#welcomed = undefined;
      if (this.#state === 'stopped') {
        this.#log.info({ code }, 'disconnected from the controller');
        return;
      }
      this.#onDisconnected(wasReady, code, reason.toString('utf8'), rejectedStatus, lastError, retryAfterMs);
    });
  }

  #onDisconnected(
    wasReady: boolean,
    code: number,
    reason: string,
    status: number | undefined,
    error: Error | undefined,
    retryAfterMs: number | undefined,
  ): void {
    const lastedMs = Date.now() - this.#welcomedAt;
    if (wasReady && lastedMs >= STABLE_CONNECTION_MS) this.#backoff.reset();
    let delay = this.#backoff.next();
    this.#failures += 1;
    const context = { url: this.url, attempt: this.#failures, retryInMs: delay };
    if (status === 401 || status === 403) {
      delay = Math.max(delay, this.#authRetryMinMs);
      this.#log.error(
        { ...context, retryInMs: delay, status },
        `the controller refused the agent token (HTTP ${status}): pass the controller's agent token with --token or FAULTLINE_AGENT_TOKEN ` +
          '(the controller prints where it stored it, <data dir>/agent-token, default ./.faultline/agent-token)',
      );
    } else if (status === 429) {
      // The controller blocks an address after repeated wrong tokens (maybe another client's): wait as told.
      delay = Math.max(delay, retryAfterMs ?? this.#authRetryMinMs);
      this.#log.error(
        { ...context, retryInMs: delay, status },
        'the controller refuses connections from this address for a while after too many failed authentications; waiting before retrying',
      );
    } else if (status !== undefined) {
      this.#log.error({ ...context, status }, `the controller answered the WebSocket upgrade with HTTP ${status}: check --controller (is it a Faultline controller of the same version?)`);
    } else if (wasReady && lastedMs < STABLE_CONNECTION_MS) {
      this.#log.warn(
        { ...context, code, reason, lastedMs },
        `the controller dropped the connection ${lastedMs} ms after welcoming it; reconnecting with backoff (is another agent using the name ${this.#options.hello().name}?)`,
      );
    } else if (wasReady) {
      this.#log.warn({ ...context, code, reason }, 'lost the connection to the controller; reconnecting');
    } else if (error && TLS_TRUST_ERRORS.has((error as NodeJS.ErrnoException).code ?? '')) {
      const level = this.#failures <= 1 || this.#failures % 20 === 0 ? 'error' : 'debug';
      this.#log[level](
        { ...context, error: errorMessage(error) },
        "the controller's TLS certificate is not trusted: pass its CA with --ca FILE (FAULTLINE_CA), or check the host name in --controller",
      );
    } else if (error) {
      // Connection refused while the controller is down is expected: say it once loudly, then quietly.
      const level = this.#failures <= 1 || this.#failures % 20 === 0 ? 'warn' : 'debug';
      this.#log[level]({ ...context, error: errorMessage(error) }, 'cannot reach the controller; retrying');
    } else {
      this.#log.warn({ ...context, code, reason }, 'the controller closed the connection; reconnecting');
    }
    this.#setState('waiting');
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  #renewLease(): void {
    this.#lastFrameAt = Date.now();
    // Every frame renews the lease: restart the one timer rather than make a new one.
    if (this.#leaseTimer) this.#leaseTimer.refresh();
    else this.#leaseTimer = setTimeout(() => this.#onLeaseExpired(), this.#options.leaseTimeoutMs);
  }

  #onLeaseExpired(): void {
    this.#leaseTimer = undefined;
    this.#log.warn(
      { leaseTimeoutMs: this.#options.leaseTimeoutMs, lastFrameAt: this.#lastFrameAt, state: this.#state },
      `no frame from the controller for ${formatDuration(this.#options.leaseTimeoutMs)} (lease timeout): reverting every fault`,
    );
    Promise.resolve()
      .then(() => this.#options.onLeaseExpired())
      .catch((error: unknown) => this.#log.error({ err: error }, 'reverting faults after the lease expired failed'));
    // A silent but open socket is dead in all but name: cut it so that the reconnection starts.
    const ws = this.#ws;
    if (ws && ws.readyState === WebSocket.OPEN && this.#state !== 'stopped') ws.terminate();
  }

  #onFrame(ws: WebSocket, data: WebSocket.RawData): void {
    if (this.#state === 'stopped') return;
    // Any frame, even an invalid one, shows the controller is alive.
    this.#renewLease();
    const decoded = decodeControllerMessage(data);
    if (!decoded.ok) {
      this.#log.warn({ err: decoded.error, requestId: decoded.id }, 'invalid frame from the controller');
      const reply: AgentMessage = { type: 'error', error: decoded.error };
      if (decoded.id !== undefined) reply.id = decoded.id;
      this.#send(ws, reply);
      return;
    }
    this.#dispatch(ws, decoded.message).catch((error: unknown) => {
      this.#log.error({ err: error, frame: decoded.message.type }, 'handling a controller frame failed');
    });
  }

  async #dispatch(ws: WebSocket, message: ControllerMessage): Promise<void> {
    const { handler } = this.#options;
    switch (message.type) {
      case 'welcome':
        this.#onWelcome(ws, message.protocolVersion, message.heartbeatIntervalMs);
        return;
      case 'ping':
        this.#send(ws, { type: 'pong', ts: message.ts });
        return;
      case 'list-containers':
        try {
          const containers = await handler.listContainers(message.selector);
          this.#reply(ws, { type: 'containers', id: message.id, containers });
        } catch (error) {
          this.#replyError(ws, message.id, error, 'list-containers');
        }
        return;
      case 'inject':
        try {
          const outcome = await handler.inject({
            faultId: message.faultId,
            runId: message.runId,
            type: message.fault,
            params: message.params,
            containerId: message.containerId,
            durationMs: message.durationMs,
          });
          this.#reply(ws, {
            type: 'injected',
            id: message.id,
            faultId: outcome.faultId,
            appliedAt: outcome.appliedAt,
            containerName: outcome.containerName,
            details: outcome.details,
          });
        } catch (error) {
          this.#replyError(ws, message.id, error, 'inject');
        }
        return;
      case 'revert':
        try {
          const outcome = await handler.revert(message.faultId, 'requested');
          this.#reply(ws, { type: 'reverted', id: message.id, faultId: message.faultId, revertedAt: outcome.revertedAt, cause: 'requested' });
        } catch (error) {
          this.#replyError(ws, message.id, error, 'revert');
        }
        return;
      case 'revert-all': {
        this.#log.warn({ reason: message.reason }, 'the controller asked to revert every fault (halt)');
        try {
          const outcome = await handler.revertAll('halt');
          this.#reply(ws, { type: 'reverted-all', id: message.id, reverted: outcome.reverted, failed: outcome.failed });
        } catch (error) {
          this.#replyError(ws, message.id, error, 'revert-all');
        }
        return;
      }
      case 'probe': {
        // Steady-state probe from this agent's host (`from: {agents: ...}`); network probes only, never a command.
        const started = performance.now();
        const outcome = await runNetworkProbe(message.probe);
        const reply: Extract<AgentMessage, { type: 'probe-result' }> = {
          type: 'probe-result',
          id: message.id,
          ok: outcome.ok,
          output: outcome.output,
          durationMs: Math.round(performance.now() - started),
        };
        if (outcome.error !== undefined) reply.error = outcome.error;
        this.#reply(ws, reply);
        return;
      }
      case 'error':
        this.#log.warn({ err: message.error, requestId: message.id }, 'the controller reported an error');
        if (message.error.code === ErrorCode.ProtocolVersion) {
          this.#log.error({ agentProtocolVersion: PROTOCOL_VERSION }, 'the controller speaks another protocol version: upgrade the agent or the controller');
        }
        return;
      default: {
        const unexpected: never = message;
        this.#log.warn({ frame: unexpected }, 'unhandled frame type');
      }
    }
  }

  #onWelcome(ws: WebSocket, protocolVersion: number, heartbeatIntervalMs: number): void {
    if (protocolVersion !== PROTOCOL_VERSION) {
      this.#log.error(
        { controllerProtocolVersion: protocolVersion, agentProtocolVersion: PROTOCOL_VERSION },
        'the controller speaks another protocol version: upgrade the agent or the controller',
      );
      ws.close(1002, 'protocol version mismatch');
      return;
    }
    this.#welcomedAt = Date.now();
    const reconnected = this.#failures > 0;
    this.#failures = 0;
    this.#welcomed = ws;
    this.#setState('ready');
    this.#log.info({ url: this.url, heartbeatIntervalMs, reconnected }, 'connected to the controller');
    if (heartbeatIntervalMs * 2 > this.#options.leaseTimeoutMs) {
      this.#log.warn(
        { heartbeatIntervalMs, leaseTimeoutMs: this.#options.leaseTimeoutMs },
        'the controller pings less than twice per lease timeout: one late ping will revert every fault; raise --lease-timeout',
      );
    }
    const queued = this.#queue.splice(0);
    for (const notice of queued) this.#send(ws, notice);
    if (queued.length > 0) this.#log.info({ count: queued.length }, 'sent the revert notices queued while disconnected');
  }

  #reply(ws: WebSocket, message: AgentMessage): void {
    if (!this.#send(ws, message)) {
      this.#log.warn({ frame: message.type, requestId: 'id' in message ? message.id : undefined }, 'the connection closed before the reply could be sent');
    }
  }

  #replyError(ws: WebSocket, id: string, error: unknown, request: string): void {
    const wire = toWireError(error);
    this.#log.warn({ err: wire, requestId: id, request }, `${request} failed`);
    this.#reply(ws, { type: 'error', id, error: wire });
  }

  /** Sends a frame on `ws` if it is open; false otherwise. A frame over the size limit becomes an error. */
  #send(ws: WebSocket, message: AgentMessage): boolean {
    if (ws.readyState !== WebSocket.OPEN) return false;
    let text = encodeMessage(message);
    if (Buffer.byteLength(text) > MAX_FRAME_BYTES) {
      this.#log.error({ frame: message.type, bytes: Buffer.byteLength(text) }, 'reply exceeds the frame size limit');
      const replacement: AgentMessage = {
        type: 'error',
        error: { code: ErrorCode.Internal, message: `the ${message.type} reply exceeds the ${MAX_FRAME_BYTES}-byte frame limit`, retryable: false },
      };
      if ('id' in message && message.id !== undefined) replacement.id = message.id;
      text = encodeMessage(replacement);
    }
    ws.send(text, (error) => {
      if (error) this.#log.debug({ err: error, frame: message.type }, 'frame not sent');
    });
    return true;
  }
}
