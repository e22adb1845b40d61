import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerApi, dockerEndpointFromHost } from '../src/host/docker-api.js';
import { DockerHost, type ContainerEvent } from '../src/host/docker.js';
import { AgentError } from '../src/host/errors.js';
import { ensureTestImage, startTestContainer } from './helpers/docker.js';

// The agent's own Docker Engine API client (it replaced dockerode). The real-engine part needs the
// local Docker socket; the error mapping and the tcp:// endpoint are checked against a loopback
// HTTP server that answers as the engine does.

describe('dockerEndpointFromHost', () => {
  it('parses unix sockets, tcp and https endpoints, and refuses ssh', () => {
    expect(dockerEndpointFromHost(undefined)).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(dockerEndpointFromHost('unix:///run/user/docker.sock')).toEqual({ socketPath: '/run/user/docker.sock' });
    expect(dockerEndpointFromHost('/tmp/d.sock')).toEqual({ socketPath: '/tmp/d.sock' });
    expect(dockerEndpointFromHost('tcp://10.0.0.5:2375')).toEqual({ host: '10.0.0.5', port: 2375 });
    expect(dockerEndpointFromHost('tcp://docker')).toEqual({ host: 'docker', port: 2375 });
    expect(dockerEndpointFromHost('https://docker.example')).toEqual({ host: 'docker.example', port: 2376, tls: true });
    expect(() => dockerEndpointFromHost('ssh://user@host')).toThrow(/ssh:\/\/ is not supported/);
  });
});

describe('DockerApi over tcp:// (loopback server answering as the engine)', () => {
  const seen: string[] = [];
  let server: ReturnType<typeof createServer>;
  let host: DockerHost;

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(`${req.method} ${req.url}`);
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.url === '/version') return json(200, { ApiVersion: '1.40' });
      if (req.url?.startsWith('/v1.40/containers/gone/')) return json(404, { message: 'No such container: gone' });
      if (req.url === '/v1.40/containers/busy/pause') return json(409, { message: 'Container busy is not running' });
      if (req.url === '/v1.40/containers/done/stop?t=3') {
        res.writeHead(304);
        return res.end();
      }
      return json(500, { message: 'unexpected' });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    host = new DockerHost({ dockerHost: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}` });
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  });

  it('negotiates down to an older engine, maps 404 to not_found, 409 to conflict with its message, and takes 304 on stop', async () => {
    expect(await host.tryInspect('gone')).toBeNull();
    const paused = await host.pause('busy').catch((error: unknown) => error);
    expect(paused).toBeInstanceOf(AgentError);
    expect(paused).toMatchObject({ code: 'conflict', message: 'pausing container busy: Container busy is not running' });
    await host.stop('done', 3);
    const other = await host.kill('other', 'SIGKILL').catch((error: unknown) => error);
    expect(other).toMatchObject({ code: 'internal', retryable: true });
    expect(seen).toEqual([
      'GET /version',
      'GET /v1.40/containers/gone/json',
      'POST /v1.40/containers/busy/pause',
      'POST /v1.40/containers/done/stop?t=3',
      'POST /v1.40/containers/other/kill?signal=SIGKILL',
    ]);
  });
});

describe('DockerHost against the real engine', { timeout: 60_000 }, () => {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const host = new DockerHost();

  beforeAll(async () => {
    await ensureTestImage();
  });

  it('pings, lists, inspects, and reports an unknown container as not_found', async () => {
    await host.ping();
    const c = await startTestContainer(docker);
    try {
      const listed = (await host.listContainers()).find((info) => info.id === c.id);
      expect(listed).toMatchObject({ name: c.name, state: 'running', image: 'faultline-test/busybox:1', labels: { 'faultline.test': 'true' } });
      const details = await host.inspect(c.id);
      expect(details).toMatchObject({ id: c.id, name: c.name, running: true, paused: false, status: 'running', exposedTcpPorts: [80], networkMode: 'default' });
      expect(details.pid).toBeGreaterThan(0);
      const missing = await host.inspect('0'.repeat(64)).catch((error: unknown) => error);
      expect(missing).toMatchObject({ code: 'not_found' });
      expect(new DockerApi().endpoint).toEqual({ socketPath: '/var/run/docker.sock' });
    } finally {
      await c.remove();
    }
  });

  it('streams container events as they happen and ends cleanly when aborted', async () => {
    const c = await startTestContainer(docker);
    try {
      const abort = new AbortController();
      let subscribed!: () => void;
      const ready = new Promise<void>((resolve) => (subscribed = resolve));
      const events: ContainerEvent[] = [];
      const reading = (async () => {
        for await (const event of host.events({ actions: ['die', 'start'], signal: abort.signal, onSubscribed: subscribed })) {
          if (event.id === c.id) events.push(event);
          if (events.some((e) => e.action === 'start')) abort.abort();
        }
      })();
      await ready;
      await host.restart(c.id, 0);
      // Ends by itself once aborted; the 10 s bound only turns a hang into a failure.
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([reading, new Promise((_resolve, reject) => (timer = setTimeout(() => reject(new Error('events did not end after abort')), 10_000)))]);
      } finally {
        clearTimeout(timer);
      }
      expect(events.map((e) => e.action)).toEqual(['die', 'start']);
      expect(events[0]).toMatchObject({ name: c.name, exitCode: 137 });
      expect(events[1]!.time).toBeGreaterThan(Date.now() - 60_000);
    } finally {
      await c.remove();
    }
  });

  it('ends at once when aborted while idle, and does not subscribe when already aborted', async () => {
    const abort = new AbortController();
    let subscribed!: () => void;
    const ready = new Promise<void>((resolve) => (subscribed = resolve));
    const reading = (async () => {
      const got: ContainerEvent[] = [];
      for await (const event of host.events({ actions: ['die'], signal: abort.signal, onSubscribed: subscribed })) got.push(event);
      return got;
    })();
    await ready;
    abort.abort();
    await expect(reading).resolves.toBeInstanceOf(Array);
    let called = false;
    for await (const _event of host.events({ signal: abort.signal, onSubscribed: () => (called = true) })) throw new Error('no event expected');
    expect(called).toBe(false);
  });
});
