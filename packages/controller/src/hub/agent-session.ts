import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import {
  ErrorCode,
  FaultlineError,
  encodeMessage,
  type AgentMessage,
  type AgentView,
  type ControllerMessage,
  type HelloMessage,
} from '@faultline/shared';

type Reply = Extract<AgentMessage, { id?: string }>;
type Pending = { resolve: (reply: Reply) => void; reject: (error: Error) => void; timer: NodeJS.Timeout };
type Outgoing = ControllerMessage extends infer M ? (M extends { id: string } ? Omit<M, 'id'> : never) : never;

/** One agent's connection as the controller sees it. */
export class AgentSession {
  readonly name: string;
  readonly hello: HelloMessage;
  lastSeen = Date.now();
  connected = true;
  readonly activeFaults = new Set<string>();
  private readonly pending = new Map<string, Pending>();
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ws: WebSocket,
    hello: HelloMessage,
    private readonly log: Logger,
  ) {
    this.name = hello.name;
    this.hello = hello;
    for (const fault of hello.activeFaults) this.activeFaults.add(fault.faultId);
  }

  /** Sends a frame; false when the socket is not open. */
  send(message: ControllerMessage): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(encodeMessage(message));
    return true;
  }

  /** Sends a request and waits for the reply with the same id. */
  request(message: Outgoing, timeoutMs: number): Promise<Reply> {
    const id = randomUUID();
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new FaultlineError(ErrorCode.Timeout, `agent ${this.name} did not answer ${message.type} within ${timeoutMs}ms`, {
            retryable: true,
          }),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.send({ ...message, id })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new FaultlineError(ErrorCode.AgentLost, `agent ${this.name} is not connected`, { retryable: true }));
      }
    });
  }

  /** Routes a reply to its waiting request; returns false when no request waits for it. */
  settle(reply: Reply): boolean {
    if (reply.id === undefined) return false;
    const pending = this.pending.get(reply.id);
    if (!pending) return false;
    this.pending.delete(reply.id);
    clearTimeout(pending.timer);
    pending.resolve(reply);
    return true;
  }

  startPing(intervalMs: number, onSilent: () => void): void {
    this.pingTimer = setInterval(() => {
      // The agent answers every ping; three silent intervals mean the link is gone.
      if (Date.now() - this.lastSeen > intervalMs * 3 + 1000) {
        onSilent();
        return;
      }
      this.send({ type: 'ping', ts: Date.now() });
    }, intervalMs);
    this.pingTimer.unref();
  }

  /** Marks the session closed and fails every waiting request. */
  disconnected(): void {
    this.connected = false;
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new FaultlineError(ErrorCode.AgentLost, `agent ${this.name} disconnected`, { retryable: true }));
      this.pending.delete(id);
    }
    this.log.info({ agent: this.name }, 'agent disconnected');
  }

  view(): AgentView {
    return {
      name: this.name,
      labels: this.hello.labels,
      connected: this.connected,
      lastSeen: this.lastSeen,
      version: this.hello.version,
      capabilities: this.hello.capabilities,
      leaseTimeoutMs: this.hello.leaseTimeoutMs,
      activeFaults: this.activeFaults.size,
    };
  }
}
