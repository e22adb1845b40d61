import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, type AgentView, type Experiment, type RunJournal, type RunSummary } from '@faultline/shared';
import { runCli, type CliIo } from '../src/cli/index.js';
import { SseParser } from '../src/cli/sse.js';

// ---------------------------------------------------------------------------------------------
// fixtures

const GOOD = `apiVersion: faultline/v1
kind: Experiment
metadata:
  name: web-latency
spec:
  targets:
    web:
      containers:
        labels: {app: web}
  steadyState:
    probes:
      - name: homepage
        type: http
        url: http://127.0.0.1:8080/
  method:
    - fault: network-latency
      target: web
      duration: 30s
      params: {latency: 300ms}
`;

const BAD_FILES: Record<string, { text: string; expect: RegExp }> = {
  'syntax.yaml': {
    text: 'apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: x\nspec: [\n',
    expect: /YAML syntax error/,
  },
  'unknown-fault.yaml': {
    text: GOOD.replace('fault: network-latency', 'fault: network-latenccy'),
    expect: /spec\.method\.0.*unknown fault type "network-latenccy"/,
  },
  'negative.yaml': {
    text: GOOD.replace('duration: 30s', 'duration: -5s'),
    expect: /spec\.method\.0\.duration: invalid duration "-5s": durations cannot be negative/,
  },
  'undefined-target.yaml': {
    text: GOOD.replace('target: web', 'target: db'),
    expect: /spec\.method\.0\.target: target "db" is not defined in spec\.targets/,
  },
  'bad-regex.yaml': {
    text: GOOD.replace('labels: {app: web}', 'namePattern: "web-(["'),
    expect: /spec\.targets\.web\.containers\.namePattern: invalid regular expression/,
  },
  'missing.yaml': {
    text: 'apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: x}\nspec:\n  targets: {web: {containers: {}}}\n',
    expect: /spec: missing required field "method"|spec\.method: missing required field "method"/,
  },
};

interface Captured {
  io: CliIo;
  out: () => string;
  err: () => string;
  interrupt: () => void;
}

function capture(cwd: string, env: Record<string, string | undefined> = {}): Captured {
  let out = '';
  let err = '';
  let handler: (() => void) | undefined;
  return {
    io: {
      stdout: { write: (chunk: string) => (out += chunk) },
      stderr: { write: (chunk: string) => (err += chunk) },
      env,
      cwd,
      onInterrupt: (h) => {
        handler = h;
        return () => {
          if (handler === h) handler = undefined;
        };
      },
    },
    out: () => out,
    err: () => err,
    interrupt: () => handler?.(),
  };
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-cli-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function experiment(): Experiment {
  const result = parseManifest(GOOD);
  if (!result.ok || result.manifest.kind !== 'Experiment') throw new Error('fixture invalid');
  return result.manifest;
}

function journal(id: string, overrides: Partial<RunJournal> = {}): RunJournal {
  const t = Date.UTC(2026, 0, 5, 10, 0, 0);
  return {
    id,
    experiment: 'web-latency',
    status: 'completed',
    reason: null,
    dryRun: false,
    trigger: 'manual',
    createdAt: t,
    startedAt: t,
    endedAt: t + 42_000,
    manifest: experiment(),
    plan: { web: [{ agent: 'host-a', containerId: 'abcdef0123456789', containerName: 'web-1' }] },
    steadyState: {
      before: [{ probe: 'homepage', type: 'http', phase: 'before', ok: true, at: t + 10, durationMs: 5, from: 'controller', output: 'HTTP 200 in 5ms' }],
      during: [
        { probe: 'homepage', type: 'http', phase: 'during', ok: true, at: t + 1000, durationMs: 305, from: 'controller', output: 'HTTP 200 in 305ms' },
      ],
      after: [{ probe: 'homepage', type: 'http', phase: 'after', ok: true, at: t + 41_000, durationMs: 5, from: 'controller', output: 'HTTP 200 in 5ms' }],
    },
    faults: [
      {
        faultId: `${id}-s0-0`,
        step: 0,
        type: 'network-latency',
        target: 'web',
        agent: 'host-a',
        containerId: 'abcdef0123456789',
        containerName: 'web-1',
        params: { latency: '300ms', jitter: '0ms', mechanism: 'auto' },
        durationMs: 30_000,
        requestedAt: t + 20,
        appliedAt: t + 40,
        revertedAt: t + 30_040,
        revertCause: 'deadline',
      },
    ],
    timeline: [
      { at: t + 5, kind: 'status', message: 'running' },
      { at: t + 40, kind: 'fault', message: 'network-latency applied on host-a/web-1' },
      { at: t + 42_000, kind: 'status', message: 'completed' },
    ],
    ...overrides,
  };
}

function summary(j: RunJournal): RunSummary {
  const { id, experiment: name, status, reason, dryRun, trigger, createdAt, startedAt, endedAt } = j;
  return { id, experiment: name, status, reason, dryRun, trigger, createdAt, startedAt, endedAt };
}

// ---------------------------------------------------------------------------------------------
// a fake controller

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

type Route = (req: Recorded, res: ServerResponse) => void;

const TOKEN = 'test-token';

class FakeController {
  readonly requests: Recorded[] = [];
  readonly routes = new Map<string, Route>();
  #server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        const rec: Recorded = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString() };
        this.requests.push(rec);
        if (req.headers.authorization !== `Bearer ${TOKEN}`) {
          return json(res, 401, { error: 'missing or wrong API token: send Authorization: Bearer <token>', code: 'unauthorized', details: [] });
        }
        const route = this.routes.get(`${rec.method} ${rec.path}`);
        if (!route) return json(res, 404, { error: `no route ${rec.method} ${rec.path}`, code: 'not_found', details: [] });
        route(rec, res);
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  reset(): void {
    this.requests.length = 0;
    this.routes.clear();
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------

describe('faultline validate', () => {
  it('accepts a good manifest', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'good.yaml'), GOOD);
    const c = capture(dir);
    expect(await runCli(['validate', 'good.yaml'], c.io)).toBe(0);
    expect(c.out()).toBe('good.yaml: ok (Experiment web-latency)\n');
  });

  it.each(Object.entries(BAD_FILES))('reports %s with file:line:column', async (name, bad) => {
    const dir = tempDir();
    writeFileSync(join(dir, name), bad.text);
    const c = capture(dir);
    expect(await runCli(['validate', name], c.io)).toBe(1);
    const lines = c.out().trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(new RegExp(`^${name.replace('.', '\\.')}:\\d+:\\d+: `));
    expect(c.out()).toMatch(bad.expect);
  });

  it('points at the exact line of the problem', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'neg.yaml'), GOOD.replace('duration: 30s', 'duration: -5s'));
    const c = capture(dir);
    await runCli(['validate', 'neg.yaml'], c.io);
    expect(c.out()).toMatch(/^neg\.yaml:18:17: spec\.method\.0\.duration: /);
  });

  it('checks every file and fails if any is bad; directories expand', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'exp'));
    writeFileSync(join(dir, 'exp', 'a.yaml'), GOOD);
    writeFileSync(join(dir, 'exp', 'b.yml'), GOOD.replace('target: web', 'target: db'));
    writeFileSync(join(dir, 'exp', 'notes.txt'), 'ignored');
    const c = capture(dir);
    expect(await runCli(['validate', 'exp', 'missing.yaml'], c.io)).toBe(1);
    expect(c.out()).toContain('exp/a.yaml: ok (Experiment web-latency)');
    expect(c.out()).toMatch(/^exp\/b\.yml:\d+:\d+: spec\.method\.0\.target: /m);
    expect(c.out()).toContain('missing.yaml: cannot read the file: no such file');
    expect(c.out()).not.toContain('notes.txt');
  });

  it('exits 2 on usage errors and 0 on --help', async () => {
    const c = capture(tempDir());
    expect(await runCli(['validate'], c.io)).toBe(2);
    expect(c.err()).toMatch(/^error: missing arguments/);
    expect(await runCli(['validate', '--bogus', 'x.yaml'], c.io)).toBe(2);
    expect(c.err()).toMatch(/error: Unknown option '--bogus'/);
    const h = capture(tempDir());
    expect(await runCli(['validate', '--help'], h.io)).toBe(0);
    expect(h.out()).toMatch(/^usage: faultline validate FILE\|DIR\.\.\./);
  });
});

describe('faultline (dispatch)', () => {
  it('lists every verb in --help', async () => {
    const c = capture(tempDir());
    expect(await runCli(['--help'], c.io)).toBe(0);
    for (const verb of ['controller', 'validate', 'run', 'runs', 'abort', 'agents', 'halt', 'resume', 'report']) {
      expect(c.out()).toMatch(new RegExp(`^  ${verb} +\\S`, 'm'));
    }
  });

  it('rejects an unknown verb with usage and exit 2', async () => {
    const c = capture(tempDir());
    expect(await runCli(['frobnicate'], c.io)).toBe(2);
    expect(c.err()).toMatch(/^error: unknown verb "frobnicate"\nusage: faultline <verb>/);
    expect(await runCli([], c.io)).toBe(2);
  });

  it('plugs in the controller verb', async () => {
    const c = capture(tempDir());
    const seen: string[][] = [];
    const code = await runCli(['controller', '--listen', '127.0.0.1:0'], c.io, {
      controller: async (argv) => {
        seen.push(argv);
        return 0;
      },
    });
    expect(code).toBe(0);
    expect(seen).toEqual([['--listen', '127.0.0.1:0']]);
  });
});

describe('SseParser', () => {
  it('parses events split anywhere, CRLF, comments and multi-line data', () => {
    const stream =
      ': keep-alive\r\n\r\nevent: timeline\r\ndata: {"a":1}\r\n\r\nevent: end\ndata: line1\ndata: line2\nid: 7\n\n' +
      'data:no-space\n\n';
    for (let size = 1; size <= stream.length; size++) {
      const parser = new SseParser();
      const got = [];
      for (let i = 0; i < stream.length; i += size) got.push(...parser.push(stream.slice(i, i + size)));
      expect(got).toEqual([
        { event: 'timeline', data: '{"a":1}' },
        { event: 'end', data: 'line1\nline2', id: '7' },
        { event: 'message', data: 'no-space', id: '7' },
      ]);
    }
  });

  it('waits for the blank line before dispatching', () => {
    const parser = new SseParser();
    expect(parser.push('event: end\ndata: {}\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ event: 'end', data: '{}' }]);
  });
});

describe('client verbs against a fake controller', () => {
  const fake = new FakeController();
  let env: Record<string, string>;

  beforeAll(async () => {
    await fake.start();
    env = { FAULTLINE_SERVER: fake.url, FAULTLINE_API_TOKEN: TOKEN };
  });
  afterEach(() => fake.reset());
  afterAll(() => fake.stop());

  it('prints the runs table with filters', async () => {
    const runs = [
      summary(journal('run-2', { status: 'deviated', reason: 'probe homepage failed during: expected status 2xx, got 503' })),
      summary(journal('run-1', { dryRun: true })),
      summary(journal('run-0', { status: 'pending', startedAt: null, endedAt: null })),
    ];
    fake.routes.set('GET /api/v1/runs', (_req, res) => json(res, 200, runs));
    const c = capture(tempDir(), env);
    expect(await runCli(['runs', '--experiment', 'web-latency', '--status', 'deviated', '--limit', '5'], c.io)).toBe(0);
    const req = fake.requests[0];
    expect(req?.query.get('experiment')).toBe('web-latency');
    expect(req?.query.get('status')).toBe('deviated');
    expect(req?.query.get('limit')).toBe('5');
    const lines = c.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +EXPERIMENT +STATUS +STARTED +DURATION +REASON$/);
    expect(lines[1]).toMatch(/^run-2 +web-latency +deviated +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +42s +probe homepage failed during/);
    expect(lines[2]).toMatch(/^run-1 +web-latency +completed \(dry\) /);
    expect(lines[3]).toMatch(/^run-0 +web-latency +pending +- +-$/);
  });

  it('rejects a bad --status before calling the controller', async () => {
    const c = capture(tempDir(), env);
    expect(await runCli(['runs', '--status', 'done'], c.io)).toBe(2);
    expect(fake.requests).toHaveLength(0);
  });

  it('shows one run', async () => {
    fake.routes.set('GET /api/v1/runs/run-1', (_req, res) => json(res, 200, journal('run-1')));
    const c = capture(tempDir(), env);
    expect(await runCli(['runs', 'run-1'], c.io)).toBe(0);
    expect(c.out()).toMatch(/^run run-1: completed\n/);
    expect(c.out()).toMatch(/step 1 network-latency on host-a\/web-1 +applied \d\d:\d\d:\d\d\.\d{3} +reverted \d\d:\d\d:\d\d\.\d{3} \(deadline\)/);
    expect(c.out()).toMatch(/before +1 ok/);
  });

  it('prints API errors with their details', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'exp.yaml'), GOOD);
    fake.routes.set('PUT /api/v1/experiments/web-latency', (_req, res) =>
      json(res, 400, {
        error: 'the manifest is invalid (2 problem(s))',
        code: 'invalid_manifest',
        details: [
          { path: 'spec.steadyState.probes.0.type', message: 'exec probes are refused', line: 13, column: 15 },
          { path: 'metadata.name', message: 'must match the URL' },
        ],
      }),
    );
    const c = capture(dir, env);
    expect(await runCli(['run', 'exp.yaml'], c.io)).toBe(1);
    expect(c.err()).toBe(
      'error: the manifest is invalid (2 problem(s))\n' +
        '  spec.steadyState.probes.0.type (line 13, column 15): exec probes are refused\n' +
        '  metadata.name: must match the URL\n',
    );
  });

  it('says when the controller is not running', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const c = capture(tempDir(), { FAULTLINE_API_TOKEN: TOKEN });
    expect(await runCli(['agents', '--server', `http://127.0.0.1:${port}`], c.io)).toBe(1);
    expect(c.err()).toBe(`error: cannot reach the controller at http://127.0.0.1:${port}: is it running?\n`);
  });

  it('reads the token from ./.faultline/api-token and hints on 401', async () => {
    fake.routes.set('GET /api/v1/agents', (_req, res) => json(res, 200, []));
    const dir = tempDir();
    mkdirSync(join(dir, '.faultline'));
    writeFileSync(join(dir, '.faultline', 'api-token'), `${TOKEN}\n`, { mode: 0o600 });
    const ok = capture(dir, { FAULTLINE_SERVER: fake.url });
    expect(await runCli(['agents'], ok.io)).toBe(0);
    expect(ok.out()).toBe('no agents have connected yet\n');

    const none = capture(tempDir(), { FAULTLINE_SERVER: fake.url });
    expect(await runCli(['agents'], none.io)).toBe(1);
    expect(none.err()).toMatch(/^error: missing or wrong API token.*\nhint: no API token found: pass --token/);

    const wrong = capture(tempDir(), { FAULTLINE_SERVER: fake.url });
    expect(await runCli(['--token', 'nope', 'agents'], wrong.io)).toBe(1);
    expect(wrong.err()).toMatch(/hint: the token from --token was refused/);
  });

  it('prints the agents table', async () => {
    const agents: AgentView[] = [
      {
        name: 'host-a',
        labels: { zone: 'a', role: 'web' },
        connected: true,
        lastSeen: Date.now() - 3000,
        version: '0.1.0',
        capabilities: { faults: ['network-latency'], latencyMechanisms: ['netem', 'proxy'] },
        leaseTimeoutMs: 15_000,
        activeFaults: 2,
      },
      {
        name: 'host-b',
        labels: {},
        connected: false,
        lastSeen: Date.now() - 120_000,
        version: '0.1.0',
        capabilities: { faults: [], latencyMechanisms: ['proxy'] },
        leaseTimeoutMs: 15_000,
        activeFaults: 0,
      },
    ];
    fake.routes.set('GET /api/v1/agents', (_req, res) => json(res, 200, agents));
    const c = capture(tempDir(), env);
    expect(await runCli(['agents'], c.io)).toBe(0);
    const lines = c.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME +CONNECTED +LABELS +LAST SEEN +FAULTS +LATENCY MECHANISMS$/);
    expect(lines[1]).toMatch(/^host-a +yes +zone=a,role=web +3s ago +2 +netem,proxy$/);
    expect(lines[2]).toMatch(/^host-b +no +- +2m ago +0 +proxy$/);
  });

  it('aborts, halts and resumes', async () => {
    fake.routes.set('POST /api/v1/runs/run-9/abort', (_req, res) => json(res, 202, { id: 'run-9' }));
    fake.routes.set('POST /api/v1/halt', (_req, res) => json(res, 200, { halted: true, confirmed: ['host-a'], unconfirmed: ['host-b'] }));
    fake.routes.set('POST /api/v1/resume', (_req, res) => json(res, 200, { halted: false }));
    const c = capture(tempDir(), env);
    expect(await runCli(['abort', 'run-9', '--reason', 'wrong target'], c.io)).toBe(0);
    expect(JSON.parse(fake.requests.at(-1)?.body ?? '')).toEqual({ reason: 'wrong target' });
    expect(await runCli(['halt', '--reason', 'incident'], c.io)).toBe(1);
    expect(JSON.parse(fake.requests.at(-1)?.body ?? '')).toEqual({ reason: 'incident' });
    expect(c.err()).toMatch(/1 agent\(s\) did not confirm .*: host-b/);
    expect(await runCli(['resume'], c.io)).toBe(0);
    expect(c.out()).toContain('resumed');
  });

  it('renders a markdown report', async () => {
    fake.routes.set('GET /api/v1/runs/run-1', (_req, res) =>
      json(res, 200, journal('run-1', { status: 'deviated', reason: 'probe homepage | failed' })),
    );
    const c = capture(tempDir(), env);
    expect(await runCli(['report', 'run-1', '--format', 'md'], c.io)).toBe(0);
    expect(c.out()).toMatch(/^# Run run-1: web-latency\n/);
    expect(c.out()).toContain('Deviated: the system left its steady state: probe homepage | failed.');
    expect(c.out()).toContain('| Reason | probe homepage \\| failed |');
    expect(c.out()).toMatch(/\| 1 \| network-latency \| web \| host-a\/web-1 \| latency=300ms, jitter=0ms, mechanism=auto \| 2026-01-05T10:00:00\.040Z \| 2026-01-05T10:00:30\.040Z \(deadline\) \|/);
    expect(c.out()).toMatch(/\| during \| homepage \| http \| 1 \| 1 \| 0 \|/);

    const html = capture(tempDir(), env);
    expect(await runCli(['report', 'run-1', '--format', 'html'], html.io)).toBe(0);
    expect(html.out()).toMatch(/^<!doctype html>/);
    expect(html.out()).toContain('<p class="sentence">Deviated: the system left its steady state: probe homepage | failed.</p>');
    expect(await runCli(['report', 'run-1', '--format', 'pdf'], html.io)).toBe(2);
  });

  describe('run', () => {
    function uploadRoutes(id: string): void {
      fake.routes.set('PUT /api/v1/experiments/web-latency', (_req, res) => json(res, 201, { name: 'web-latency', created: true }));
      fake.routes.set('POST /api/v1/experiments/web-latency/runs', (_req, res) => json(res, 202, { id, status: 'pending' }));
    }

    it('uploads a file, streams events split across chunks, and exits 0 when completed', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'web.yaml'), GOOD);
      const done = journal('run-1');
      uploadRoutes('run-1');
      fake.routes.set('GET /api/v1/runs/run-1/events', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const text =
          done.timeline.map((event, seq) => sse('timeline', { ...event, seq })).join('') + ': keep-alive\n\n' + sse('end', summary(done));
        // Deliberately split inside lines and inside a multi-byte-free JSON value.
        const cuts = [7, 31, 60, 95, 140, text.length];
        void (async () => {
          let from = 0;
          for (const cut of cuts) {
            res.write(text.slice(from, cut));
            from = cut;
            await sleep(10);
          }
          res.end();
        })();
      });
      fake.routes.set('GET /api/v1/runs/run-1', (_req, res) => json(res, 200, done));

      const c = capture(dir, env);
      expect(await runCli(['run', 'web.yaml'], c.io)).toBe(0);
      const put = fake.requests.find((r) => r.method === 'PUT');
      expect(put?.body).toBe(GOOD);
      expect(put?.headers['content-type']).toBe('application/yaml');
      const post = fake.requests.find((r) => r.method === 'POST');
      expect(JSON.parse(post?.body ?? '')).toEqual({ dryRun: false });
      const events = fake.requests.find((r) => r.path.endsWith('/events'));
      expect(events?.headers.authorization).toBe(`Bearer ${TOKEN}`);

      const out = c.out();
      expect(out).toContain('run run-1 started\n');
      const timeline = out.split('\n').filter((line) => /^\d\d:\d\d:\d\d\.\d{3} {2}\[/.test(line));
      expect(timeline).toHaveLength(3);
      expect(timeline[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}\[status\] running$/);
      expect(timeline[1]).toMatch(/\[fault\] network-latency applied on host-a\/web-1$/);
      expect(out).toMatch(/run run-1: completed\n/);
      expect(out).toContain('faults:\n  web:\n    step 1 network-latency on host-a/web-1 ');
      expect(out).toContain('probes:\n  before 1 ok\n  during 1 ok\n  after  1 ok');
    });

    it('runs a stored experiment by name as a dry run and exits 1 when it deviated', async () => {
      const deviated = journal('run-2', { status: 'deviated', reason: 'probe homepage failed during' });
      fake.routes.set('POST /api/v1/experiments/web-latency/runs', (_req, res) => json(res, 202, { id: 'run-2' }));
      fake.routes.set('GET /api/v1/runs/run-2/events', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(sse('end', summary(deviated)));
      });
      fake.routes.set('GET /api/v1/runs/run-2', (_req, res) => json(res, 200, deviated));
      const c = capture(tempDir(), env);
      expect(await runCli(['run', 'web-latency', '--dry-run'], c.io)).toBe(1);
      expect(fake.requests.some((r) => r.method === 'PUT')).toBe(false);
      expect(JSON.parse(fake.requests.find((r) => r.method === 'POST')?.body ?? '')).toEqual({ dryRun: true });
      expect(c.out()).toContain('run run-2 started (dry run)');
      expect(c.out()).toContain('reason     probe homepage failed during');
    });

    it('does not upload an invalid file', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'bad.yaml'), GOOD.replace('target: web', 'target: db'));
      const c = capture(dir, env);
      expect(await runCli(['run', 'bad.yaml'], c.io)).toBe(1);
      expect(c.err()).toMatch(/^bad\.yaml:\d+:\d+: spec\.method\.0\.target: target "db" is not defined/);
      expect(fake.requests).toHaveLength(0);
    });

    it('returns at once with --detach', async () => {
      uploadRoutes('run-3');
      const c = capture(tempDir(), env);
      expect(await runCli(['run', 'web-latency', '--detach', '--json'], c.io)).toBe(0);
      expect(JSON.parse(c.out())).toEqual({ id: 'run-3' });
      expect(fake.requests.some((r) => r.path.endsWith('/events'))).toBe(false);
    });

    it('falls back to polling when the stream drops', async () => {
      uploadRoutes('run-4');
      const final = journal('run-4');
      fake.routes.set('GET /api/v1/runs/run-4/events', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(sse('timeline', { ...final.timeline[0], seq: 0 }));
        setTimeout(() => res.destroy(), 20);
      });
      let polls = 0;
      fake.routes.set('GET /api/v1/runs/run-4', (_req, res) => {
        polls++;
        json(res, 200, polls === 1 ? journal('run-4', { status: 'running', endedAt: null, timeline: final.timeline.slice(0, 2) }) : final);
      });
      const c = capture(tempDir(), env);
      expect(await runCli(['run', 'web-latency'], c.io)).toBe(0);
      const timeline = c.out().split('\n').filter((line) => /^\d\d:\d\d:\d\d\.\d{3} {2}\[/.test(line));
      expect(timeline.map((line) => line.slice(14))).toEqual([
        '[status] running',
        '[fault] network-latency applied on host-a/web-1',
        '[status] completed',
      ]);
      expect(c.err()).toBe('');
      expect(polls).toBeGreaterThanOrEqual(2);
    });

    it('aborts the run on Ctrl-C and exits 130', async () => {
      uploadRoutes('run-5');
      fake.routes.set('GET /api/v1/runs/run-5/events', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(sse('timeline', { at: Date.now(), kind: 'status', message: 'running', seq: 0 }));
      });
      fake.routes.set('POST /api/v1/runs/run-5/abort', (_req, res) => json(res, 202, {}));
      const c = capture(tempDir(), env);
      const pending = runCli(['run', 'web-latency'], c.io);
      while (!c.out().includes('[status] running')) await sleep(5);
      c.interrupt();
      expect(await pending).toBe(130);
      const abort = fake.requests.find((r) => r.path === '/api/v1/runs/run-5/abort');
      expect(JSON.parse(abort?.body ?? '')).toEqual({ reason: 'interrupted from the CLI (Ctrl-C)' });
      expect(c.err()).toContain('aborting run run-5');
    });
  });
});
