import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProbeSchema, type Probe, type ProbePhase } from '@faultline/shared';
import { runProbe } from '../src/probes/run-probe.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

interface TestServer {
  url: string;
  port: number;
  connections: number;
  close(): Promise<void>;
}

async function startServer(handler: Handler): Promise<TestServer> {
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  const state = { connections: 0 };
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function probe(input: Record<string, unknown>): Probe {
  return ProbeSchema.parse({ name: 'p', ...input });
}

function run(input: Record<string, unknown>, opts: { allowExec?: boolean; signal?: AbortSignal; phase?: ProbePhase } = {}) {
  return runProbe(probe(input), opts.phase ?? 'before', { allowExec: opts.allowExec ?? false, signal: opts.signal });
}

let web: TestServer;
let prom: TestServer;
let promAnswer: { status: number; body: unknown } = { status: 200, body: {} };

beforeAll(async () => {
  web = await startServer((req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/ok':
        res.end('all ok here');
        return;
      case '/down':
        res.statusCode = 503;
        res.end('unavailable');
        return;
      case '/slow':
        setTimeout(() => res.end('ok, slowly'), Number(url.searchParams.get('ms') ?? '300'));
        return;
      case '/hang':
        return; // never answers
      case '/echo':
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ method: req.method, header: req.headers['x-probe'], connection: req.headers.connection, body }));
        return;
      default:
        res.statusCode = 404;
        res.end();
    }
  });
  prom = await startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/api/v1/query' || !url.searchParams.get('query')) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.statusCode = promAnswer.status;
    res.setHeader('content-type', 'application/json');
    res.end(typeof promAnswer.body === 'string' ? promAnswer.body : JSON.stringify(promAnswer.body));
  });
});

afterAll(async () => {
  await web.close();
  await prom.close();
});

describe('http probe', () => {
  it('passes on 2xx with body and latency checks', async () => {
    const result = await run({
      type: 'http',
      url: `${web.url}/ok`,
      expect: { status: 200, maxLatency: '1s', bodyContains: 'ok' },
    }, { phase: 'during' });
    expect(result).toMatchObject({ probe: 'p', type: 'http', phase: 'during', ok: true, from: 'controller' });
    expect(result.output).toMatch(/^HTTP 200 in \d+ms$/);
    expect(result.error).toBeUndefined();
    expect(result.at).toBeGreaterThan(Date.now() - 10_000);
  });

  it('fails on an unexpected status with a clear message', async () => {
    const result = await run({ type: 'http', url: `${web.url}/down` });
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/^HTTP 503 in \d+ms$/);
    expect(result.error).toBe('expected status 2xx, got 503');

    const list = await run({ type: 'http', url: `${web.url}/down`, expect: { status: [200, 204] } });
    expect(list.error).toBe('expected status 200 or 204, got 503');

    const accepted = await run({ type: 'http', url: `${web.url}/down`, expect: { status: '5xx' } });
    expect(accepted.ok).toBe(true);
  });

  it('fails when slower than maxLatency', async () => {
    const result = await run({ type: 'http', url: `${web.url}/slow?ms=300`, expect: { maxLatency: '100ms' } });
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/^took (\d+)ms, over maxLatency 100ms$/);
    expect(Number(/took (\d+)ms/.exec(result.error ?? '')?.[1])).toBeGreaterThanOrEqual(290);
  });

  it('fails when the body misses the expected text', async () => {
    const result = await run({ type: 'http', url: `${web.url}/ok`, expect: { bodyContains: 'healthy' } });
    expect(result).toMatchObject({ ok: false, error: 'body does not contain "healthy"' });
  });

  it('times out', async () => {
    const started = Date.now();
    const result = await run({ type: 'http', url: `${web.url}/hang`, timeout: '200ms' });
    expect(result.ok).toBe(false);
    expect(result.error).toBe('timed out after 200ms');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('reports a refused connection', async () => {
    const port = await closedPort();
    const result = await run({ type: 'http', url: `http://127.0.0.1:${port}/` });
    expect(result.ok).toBe(false);
    expect(result.error).toBe(`connection refused (127.0.0.1:${port})`);
  });

  it('sends method, headers and body, on a fresh connection each time', async () => {
    const before = web.connections;
    const result = await run({
      type: 'http',
      url: `${web.url}/echo`,
      method: 'POST',
      headers: { 'x-probe': 'yes' },
      body: 'payload',
      expect: { bodyContains: '"body":"payload"' },
    });
    expect(result.ok).toBe(true);
    const again = await run({ type: 'http', url: `${web.url}/echo`, expect: { bodyContains: '"connection":"close"' } });
    expect(again.ok).toBe(true);
    expect(web.connections - before).toBe(2);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const result = await run({ type: 'http', url: `${web.url}/hang`, timeout: '5s' }, { signal: controller.signal });
    expect(result).toMatchObject({ ok: false, error: 'aborted' });
    expect(result.durationMs).toBeLessThan(2000);
  });
});

describe('tcp probe', () => {
  it('connects to an open port', async () => {
    const result = await run({ type: 'tcp', host: '127.0.0.1', port: web.port });
    expect(result.ok).toBe(true);
    expect(result.output).toMatch(new RegExp(`^connected to 127\\.0\\.0\\.1:${web.port} in \\d+ms$`));
  });

  it('fails on a closed port', async () => {
    const port = await closedPort();
    const result = await run({ type: 'tcp', host: '127.0.0.1', port });
    expect(result.ok).toBe(false);
    expect(result.error).toBe(`connection refused (127.0.0.1:${port})`);
  });
});

describe('exec probe', () => {
  const node = process.execPath;

  it('is refused without --allow-exec-probes, and nothing runs', async () => {
    const result = await run({ type: 'exec', command: [node, '-e', 'process.exit(0)'] });
    expect(result.ok).toBe(false);
    expect(result.output).toBe('not run');
    expect(result.error).toMatch(/exec probes are disabled.*--allow-exec-probes/);
  });

  it('checks the exit code and stdout', async () => {
    const ok = await run(
      { type: 'exec', command: [node, '-e', 'process.stdout.write("steady")'], expect: { stdoutContains: 'steady' } },
      { allowExec: true },
    );
    expect(ok.ok).toBe(true);
    expect(ok.output).toMatch(/^exit code 0 in \d+ms$/);

    const bad = await run(
      { type: 'exec', command: [node, '-e', 'console.error("broken"); process.exit(3)'] },
      { allowExec: true },
    );
    expect(bad.ok).toBe(false);
    expect(bad.error).toBe('expected exit code 0, got 3 (stderr: "broken")');

    const text = await run(
      { type: 'exec', command: [node, '-e', 'process.stdout.write("x")'], expect: { stdoutContains: 'steady' } },
      { allowExec: true },
    );
    expect(text.error).toBe('stdout does not contain "steady"');
  });

  it('passes arguments without a shell', async () => {
    const result = await run(
      { type: 'exec', command: [node, '-e', 'process.stdout.write(process.argv[1])', '$(echo hi); `id`'], expect: { stdoutContains: '$(echo hi); `id`' } },
      { allowExec: true },
    );
    expect(result.ok).toBe(true);
  });

  it('reports a missing command and a timeout', async () => {
    const missing = await run({ type: 'exec', command: ['/nonexistent/faultline-probe'] }, { allowExec: true });
    expect(missing).toMatchObject({ ok: false, error: 'command not found: "/nonexistent/faultline-probe"' });

    const slow = await run(
      { type: 'exec', command: [node, '-e', 'setTimeout(() => {}, 10000)'], timeout: '200ms' },
      { allowExec: true },
    );
    expect(slow).toMatchObject({ ok: false, error: 'timed out after 200ms' });
    expect(slow.durationMs).toBeLessThan(5000);
  });
});

describe('prometheus probe', () => {
  const vector = (value: string) => ({
    status: 200,
    body: { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1700000000, value] }] } },
  });

  it('compares the first value of a vector', async () => {
    promAnswer = vector('0.02');
    const ok = await run({ type: 'prometheus', url: `${prom.url}/`, query: 'rate(errors[1m])', expect: { lt: 0.05, gte: 0 } });
    expect(ok.ok).toBe(true);
    expect(ok.output).toMatch(/^query returned 0\.02 in \d+ms$/);

    promAnswer = vector('0.5');
    const bad = await run({ type: 'prometheus', url: prom.url, query: 'rate(errors[1m])', expect: { lt: 0.05 } });
    expect(bad).toMatchObject({ ok: false, error: 'expected value < 0.05, got 0.5' });
  });

  it('reads scalars', async () => {
    promAnswer = { status: 200, body: { status: 'success', data: { resultType: 'scalar', result: [1700000000, '3'] } } };
    const result = await run({ type: 'prometheus', url: prom.url, query: 'scalar(up)', expect: { eq: 3 } });
    expect(result.ok).toBe(true);
  });

  it('fails on empty results and query errors', async () => {
    promAnswer = { status: 200, body: { status: 'success', data: { resultType: 'vector', result: [] } } };
    const empty = await run({ type: 'prometheus', url: prom.url, query: 'up{job="none"}', expect: { gt: 0 } });
    expect(empty).toMatchObject({ ok: false, error: 'the query returned no series' });

    promAnswer = { status: 400, body: { status: 'error', errorType: 'bad_data', error: 'parse error at char 3' } };
    const invalid = await run({ type: 'prometheus', url: prom.url, query: 'up{', expect: { gt: 0 } });
    expect(invalid).toMatchObject({ ok: false, error: 'Prometheus answered HTTP 400: parse error at char 3' });
  });
});
