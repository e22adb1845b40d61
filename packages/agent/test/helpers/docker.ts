import { execFile } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';

const exec = promisify(execFile);

export const TEST_IMAGE = 'faultline-test/busybox:1';
export const TEST_LABEL = 'faultline.test';

/** Builds the busybox test image unless it exists, with the one recipe: scripts/build-test-image.sh. */
export async function ensureTestImage(): Promise<void> {
  await exec('bash', [join(import.meta.dirname, '../../../../scripts/build-test-image.sh')], { timeout: 120_000 });
}

/** A running test container serving HTTP on port 80, published on 127.0.0.1. */
export interface TestContainer {
  id: string;
  name: string;
  hostPort: number;
  remove(): Promise<void>;
}

/** Starts a busybox httpd container with `-p 127.0.0.1::80`. */
export async function startTestContainer(docker: Docker, options: { labels?: Record<string, string>; name?: string } = {}): Promise<TestContainer> {
  const name = options.name ?? `faultline-test-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
  const container = await docker.createContainer({
    Image: TEST_IMAGE,
    name,
    Labels: { [TEST_LABEL]: 'true', ...(options.labels ?? {}) },
    ExposedPorts: { '80/tcp': {} },
    HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  const remove = async (): Promise<void> => {
    await container.remove({ force: true }).catch(() => undefined);
  };
  try {
    await container.start();
    const info = await container.inspect();
    const hostPort = Number(info.NetworkSettings.Ports['80/tcp']?.[0]?.HostPort);
    if (!hostPort) throw new Error('no published port');
    await waitForHttp(hostPort);
    return { id: container.id, name, hostPort, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** One HTTP GET over a fresh connection; resolves with status, body and elapsed ms. */
export function httpGet(port: number, timeoutMs = 5_000): Promise<{ status: number; body: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - start }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitForHttp(port: number): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await httpGet(port, 1_000);
      if (res.status === 200) return;
    } catch (error) {
      if (Date.now() > until) throw error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Median request time over `n` fresh connections (requests one after another). */
export async function medianLatency(port: number, n = 15): Promise<{ median: number; samples: number[] }> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await httpGet(port);
    if (res.status !== 200 || res.body.trim() !== 'ok') throw new Error(`unexpected answer ${res.status} ${JSON.stringify(res.body)}`);
    samples.push(res.ms);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, samples };
}

/** `iptables-save` inside the container's network namespace. */
export async function iptablesSaveIn(pid: number): Promise<string> {
  return (await exec('nsenter', ['-t', String(pid), '-n', '--', 'iptables-save'])).stdout;
}
