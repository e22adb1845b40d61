/**
 * TCP and HTTP measures with Node alone, shared by the agent's Docker tests
 * (packages/agent/test/helpers/network.ts) and the end-to-end fixtures (test/e2e/fixtures/network.ts):
 * connection attempts (loss, blackhole) and transfer rates (bandwidth). Point them only at
 * containers the tests created.
 */
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * Timeout of one connection attempt: below Linux's initial SYN retransmission timeout (1 s), so an
 * attempt whose SYN was dropped fails, while one whose SYN arrived completes within milliseconds.
 */
export const CONNECT_TIMEOUT_MS = 600;

/** How one TCP connection attempt ended. */
export type ConnectOutcome = 'connected' | 'refused' | 'timeout' | 'error';

/** One TCP connect to `host:port`; the socket is closed at once. */
export function connectOnce(host: string, port: number, timeoutMs = CONNECT_TIMEOUT_MS): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (outcome: ConnectOutcome): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.once('connect', () => done('connected'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : 'error'));
  });
}

export interface ConnectStats {
  attempts: number;
  /** SYN answered: connected, or refused by a port without a listener. */
  answered: number;
  failed: number;
  timeouts: number;
  /** failed / attempts */
  failureRate: number;
}

/**
 * `attempts` TCP connects to `host:port`, `concurrency` (default 20) at a time, each a fresh SYN.
 * An attempt succeeds when its SYN is answered (accepted or refused). Measure loss against a port
 * without a listener: the container's kernel then answers every SYN that arrives with a RST at once,
 * so only the network decides (busybox httpd's accept queue of 9 overflows under 20 parallel
 * connects, and a full queue drops SYNs too).
 */
export async function connectStats(
  host: string,
  port: number,
  attempts: number,
  options: { concurrency?: number; timeoutMs?: number } = {},
): Promise<ConnectStats> {
  let started = 0;
  const outcomes: ConnectOutcome[] = [];
  const worker = async (): Promise<void> => {
    while (started < attempts) {
      started++;
      outcomes.push(await connectOnce(host, port, options.timeoutMs));
    }
  };
  await Promise.all(Array.from({ length: Math.min(attempts, options.concurrency ?? 20) }, worker));
  const answered = outcomes.filter((o) => o === 'connected' || o === 'refused').length;
  return {
    attempts,
    answered,
    failed: attempts - answered,
    timeouts: outcomes.filter((o) => o === 'timeout').length,
    failureRate: (attempts - answered) / attempts,
  };
}

export interface Transfer {
  bytes: number;
  seconds: number;
  bytesPerSecond: number;
}

/** GETs `url` on a fresh connection and measures how fast the body arrives (request to last byte). */
export function download(url: string, timeoutMs = 60_000): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(new Error(`HTTP ${res.statusCode ?? 0} from ${url}`));
          return;
        }
        const seconds = (performance.now() - start) / 1000;
        resolve({ bytes, seconds, bytesPerSecond: bytes / seconds });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs}ms: ${url}`)));
    req.on('error', reject);
  });
}
