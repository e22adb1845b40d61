import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { promisify } from 'node:util';
import type Docker from 'dockerode';

const exec = promisify(execFile);

/**
 * Below Linux's initial SYN retransmission timeout (1 s): a connection attempt whose SYN was dropped
 * fails, one whose SYN got through completes in a few ms, even on a loaded machine.
 */
export const CONNECT_TIMEOUT_MS = 600;

/** How one TCP connection attempt ended. */
export type ConnectOutcome = 'connected' | 'timeout' | 'refused' | 'error';

/** One TCP connect to `host:port` with a timeout; the socket is closed at once. */
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
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' ? 'refused' : 'error'));
  });
}

/** Counts of many connection attempts. */
export interface ConnectStats {
  attempts: number;
  /** Answered: connected, or refused (a port without a listener answers the SYN with a RST). */
  answered: number;
  failed: number;
  timeouts: number;
  /** failed / attempts */
  failureRate: number;
}

/**
 * `attempts` connects to `host:port`, `concurrency` at a time, each with its own fresh SYN. An
 * attempt succeeds when the SYN is answered (accepted or refused) before the timeout. Measure loss
 * on a port without a listener: then nothing but the network decides (busybox httpd listens with a
 * backlog of 9, and a full accept queue drops SYNs too).
 */
export async function connectStats(host: string, port: number, attempts: number, options: { concurrency?: number; timeoutMs?: number } = {}): Promise<ConnectStats> {
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

/** Downloads `url` over a fresh connection and measures the rate of the body. */
export function download(url: string, timeoutMs = 60_000): Promise<{ bytes: number; seconds: number; bytesPerSecond: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode ?? 0} from ${url}`));
        const seconds = (performance.now() - start) / 1000;
        resolve({ bytes, seconds, bytesPerSecond: bytes / seconds });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs}ms: ${url}`)));
    req.on('error', reject);
  });
}

/** The container's address on Docker's default bridge. */
export async function containerIp(docker: Docker, id: string): Promise<string> {
  const info = await docker.getContainer(id).inspect();
  const ip = Object.values(info.NetworkSettings.Networks)[0]?.IPAddress;
  if (!ip) throw new Error(`container ${id.slice(0, 12)} has no IP address`);
  return ip;
}

/** `docker exec` with an argument array; resolves with the exit code (never throws on a non-zero one). */
export async function dockerExec(id: string, argv: readonly string[], timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('docker', ['exec', id, ...argv], { timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error) };
  }
}

/**
 * Whether a TCP connection from inside container `from` to `ip:port` is established within 1 s
 * (busybox `nc -w 1`; its stdin is empty, so it closes at once once connected).
 */
export async function connectsFrom(from: string, ip: string, port: number): Promise<boolean> {
  return (await dockerExec(from, ['/bin/busybox', 'nc', '-w', '1', ip, String(port)], 15_000)).code === 0;
}

/** `tc qdisc show dev eth0` as JSON in the namespace of `pid`. */
export async function qdiscsIn(pid: number): Promise<{ kind: string; handle: string; root?: boolean }[]> {
  const { stdout } = await exec('nsenter', ['-t', String(pid), '-n', '--', 'tc', '-j', 'qdisc', 'show', 'dev', 'eth0']);
  return JSON.parse(stdout || '[]') as { kind: string; handle: string; root?: boolean }[];
}

/** `iptables-save` of the agent's (here: the host's) own namespace. */
export async function hostIptablesSave(): Promise<string> {
  return (await exec('iptables-save', [])).stdout;
}
