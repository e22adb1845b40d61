import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { ControllerConnection } from '../src/connection.js';
import { captureLogger, sleep, waitFor } from './fakes.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server that refuses every upgrade with 429 and `Retry-After: 1`, recording when each attempt came. */
async function blockingServer(): Promise<{ url: string; attempts: number[] }> {
  const attempts: number[] = [];
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (_info, callback: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => {
      attempts.push(Date.now());
      callback(false, 429, 'Too Many Requests', { 'Retry-After': '1' });
    },
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${address.port}`, attempts };
}

describe('ControllerConnection against a controller that rate-limits it', () => {
  it('waits as long as Retry-After says before trying again after a 429, and says why', async () => {
    const server = await blockingServer();
    const { log, lines } = captureLogger();
    const connection = new ControllerConnection({
      controllerUrl: server.url,
      token: 'secret-token-value',
      log,
      handler: {} as never,
      hello: () => ({ name: 'a', labels: {}, version: 't', capabilities: { faults: [], latencyMechanisms: [] }, leaseTimeoutMs: 60_000, activeFaults: [] }),
      leaseTimeoutMs: 60_000,
      onLeaseExpired: () => undefined,
      backoff: { initialMs: 10, maxMs: 20, authRetryMinMs: 10 },
    });
    cleanups.push(() => connection.stop());
    connection.start();
    await waitFor(() => server.attempts.length >= 2, 5000, 'a second attempt');
    const gap = server.attempts[1]! - server.attempts[0]!;
    // Without Retry-After the backoff here is at most 20 ms.
    expect(gap).toBeGreaterThanOrEqual(950);
    expect(lines.some((line) => String(line.msg).includes('too many failed authentications'))).toBe(true);
    expect(JSON.stringify(lines)).not.toContain('secret-token-value');
    await sleep(10);
  });
});
