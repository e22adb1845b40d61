/** The client side of the proxy benchmarks: timed HTTP requests, the upstream server and the real latency proxy program. */
import { Agent, request } from 'node:http';
import { benchProgram, PROXY_MAIN, spawnChild, type Child } from './proc.js';

/** One GET; resolves with the time from sending to the last byte (ms) and the body length. */
export function timedGet(port: number, path: string, agent: Agent | false): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${path} through :${port} answered ${res.statusCode}`));
        else resolve({ ms: performance.now() - started, bytes });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A keep-alive agent with one connection: requests on it reuse the same TCP connection. */
export function keepAlive(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 1 });
}

export interface Upstream {
  port: number;
  child: Child;
}

/** Starts http-target.js (in its own process). */
export async function startUpstream(): Promise<Upstream> {
  const child = spawnChild(process.execPath, [benchProgram('http-target')], { name: 'http-target' });
  const line = await child.waitForLine(/^READY \d+$/);
  return { port: Number(line.split(' ')[1]), child };
}

export interface Proxy {
  port: number;
  child: Child;
}

/**
 * Starts the agent's latency proxy program (latency-proxy-main.js, what the agent runs inside a
 * container's namespace) on loopback, in front of `targetPort`.
 */
export async function startProxy(targetPort: number, latencyMs: number, jitterMs: number): Promise<Proxy> {
  const child = spawnChild(
    process.execPath,
    [PROXY_MAIN, 'faultline-latency-proxy', '--fault', `bench-${latencyMs}-${jitterMs}`, '--map', `0:${targetPort}`, '--latency-ms', String(latencyMs), '--jitter-ms', String(jitterMs)],
    { name: 'latency proxy' },
  );
  const line = await child.waitForLine(/^(READY|ERROR) /);
  const match = /^READY \d+ \d+=(\d+)$/.exec(line);
  if (!match) {
    await child.stop();
    throw new Error(`the latency proxy did not start: ${line}`);
  }
  return { port: Number(match[1]), child };
}
