import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startDelayingProxy, type DelayingProxy } from '../src/host/latency-proxy-server.js';

// The delaying proxy alone, on loopback: no namespace, no iptables.

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

/** Sends `request`, half-closes, and collects everything until the server's end. */
function exchange(port: number, request: string): Promise<{ data: string; firstByteMs: number; totalMs: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let firstByteMs = -1;
    let data = '';
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(request));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (firstByteMs < 0) firstByteMs = performance.now() - start;
      data += chunk;
    });
    socket.on('end', () => resolve({ data, firstByteMs, totalMs: performance.now() - start }));
    socket.on('error', reject);
  });
}

describe('startDelayingProxy', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function echoServer(): Promise<number> {
    // Answers each request with its upper-cased text, then closes.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('end', () => socket.end(text.toUpperCase()));
    });
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    return listen(server);
  }

  async function proxy(targetPort: number, latencyMs: number, jitterMs = 0): Promise<DelayingProxy> {
    const p = await startDelayingProxy({ map: [{ listenPort: 0, targetPort }], latencyMs, jitterMs, host: '127.0.0.1' });
    cleanups.push(() => p.close());
    return p;
  }

  it('forwards both ways with half-close and delays the answer by the latency', async () => {
    const target = await echoServer();
    const direct = await exchange(target, 'hello');
    expect(direct.data).toBe('HELLO');
    const p = await proxy(target, 80);
    const listenPort = p.ports[0]!.listenPort;
    expect(listenPort).toBeGreaterThan(0);
    const delayed = await exchange(listenPort, 'hello');
    expect(delayed.data).toBe('HELLO');
    expect(delayed.firstByteMs).toBeGreaterThanOrEqual(78);
    expect(delayed.firstByteMs).toBeLessThan(80 + 40);
  });

  it('keeps the order of chunks under jitter', async () => {
    const chunks = Array.from({ length: 200 }, (_, i) => `<${i}>`);
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      let i = 0;
      const timer = setInterval(() => {
        socket.write(chunks[i++]!);
        if (i === chunks.length) {
          clearInterval(timer);
          socket.end();
        }
      }, 1);
    });
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const target = await listen(server);
    const p = await proxy(target, 30, 25);
    const result = await exchange(p.ports[0]!.listenPort, '');
    expect(result.data).toBe(chunks.join(''));
  });

  it('closes the client when the target refuses', async () => {
    // A port nobody listens on: bind one, then release it.
    const released = net.createServer();
    const free = await listen(released);
    await new Promise<void>((r) => released.close(() => r()));
    const p = await proxy(free, 10);
    const outcome = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: p.ports[0]!.listenPort });
      socket.on('close', () => resolve('closed'));
      socket.on('error', () => undefined);
    });
    expect(outcome).toBe('closed');
    expect(p.connectionCount()).toBe(0);
  });

  it('with no latency, passes data on at once, without waiting for a timer', async () => {
    const target = await echoServer();
    const p = await proxy(target, 0);
    // With setTimeout frozen, an answer can only come back if the proxy writes it synchronously (a
    // timer, even of 0 ms, would add a millisecond to every response: pnpm bench proxy).
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const result = await exchange(p.ports[0]!.listenPort, 'now');
      expect(result.data).toBe('NOW');
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports a port that cannot be bound', async () => {
    const busy = net.createServer();
    const port = await listen(busy);
    cleanups.push(() => new Promise<void>((r) => busy.close(() => r())));
    await expect(startDelayingProxy({ map: [{ listenPort: port, targetPort: 80 }], latencyMs: 1, jitterMs: 0, host: '127.0.0.1' })).rejects.toMatchObject({
      name: 'ProxyBindError',
      port,
      code: 'EADDRINUSE',
    });
  });
});
