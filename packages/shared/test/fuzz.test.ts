/**
 * Property-based fuzzing (fast-check) of the two parsers that take input from outside: the manifest
 * parser (REST bodies, files) and the wire protocol decoders (every WebSocket frame). Whatever the
 * input, each must return a value or validation errors — never throw — within a time bound.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { decodeAgentMessage, decodeControllerMessage, ErrorCode, parseManifest, type Decoded } from '../src/index.js';

/**
 * Per input. Generated inputs are at most a few kB; the parsers take well under 10 ms on them, so
 * 500 ms flags a pathological slowdown (super-linear parsing, a regex gone wrong) on a loaded
 * 2-core machine without flaking.
 */
const TIME_BOUND_MS = 500;
// Generated runs add up on a loaded machine; each property is bounded per input above.
vi.setConfig({ testTimeout: 60_000 });
const RUNS = Number(process.env.FAULTLINE_FUZZ_RUNS ?? 300);

function timed<T>(what: string, fn: () => T): T {
  const started = performance.now();
  const result = fn();
  const ms = performance.now() - started;
  if (ms > TIME_BOUND_MS) throw new Error(`${what} took ${ms.toFixed(0)}ms (bound ${TIME_BOUND_MS}ms)`);
  return result;
}

function checkManifest(text: string): void {
  const result = timed('parseManifest', () => parseManifest(text));
  if (result.ok) {
    expect(['Experiment', 'GameDay']).toContain(result.manifest.kind);
    return;
  }
  expect(result.issues.length).toBeGreaterThan(0);
  for (const issue of result.issues) {
    expect(typeof issue.path).toBe('string');
    expect(typeof issue.message).toBe('string');
    expect(issue.message.length).toBeGreaterThan(0);
    if (issue.line !== undefined) expect(issue.line).toBeGreaterThanOrEqual(1);
  }
}

function checkDecoded(decoded: Decoded<{ type: string }>): void {
  if (decoded.ok) {
    expect(typeof decoded.message.type).toBe('string');
    return;
  }
  expect(decoded.error.code).toBe(ErrorCode.InvalidFrame);
  expect(decoded.error.retryable).toBe(false);
  expect(typeof decoded.error.message).toBe('string');
  if (decoded.id !== undefined) expect(decoded.id.length).toBeLessThanOrEqual(128);
}

function checkFrame(raw: string | Buffer | ArrayBuffer | Buffer[]): void {
  checkDecoded(timed('decodeAgentMessage', () => decodeAgentMessage(raw)));
  checkDecoded(timed('decodeControllerMessage', () => decodeControllerMessage(raw)));
}

const VALID_MANIFEST = {
  apiVersion: 'faultline/v1',
  kind: 'Experiment',
  metadata: { name: 'web-latency', description: 'fuzz', labels: { team: 'shop' } },
  spec: {
    targets: {
      web: {
        agents: { labels: { zone: 'a' } },
        containers: { labels: { app: 'web' }, namePattern: '^web-[0-9]+$' },
        select: { mode: 'count', value: 1 },
      },
    },
    steadyState: {
      probes: [
        {
          name: 'homepage',
          type: 'http',
          url: 'http://127.0.0.1:8080/',
          timeout: '2s',
          expect: { status: 200, maxLatency: '800ms', bodyContains: 'ok' },
          when: ['before', 'during', 'after'],
          interval: '1s',
        },
      ],
    },
    method: [
      { fault: 'network-latency', target: 'web', duration: '30s', params: { latency: '300ms', jitter: '20ms' } },
      { pause: '5s' },
      { fault: 'container-kill', target: 'web', params: { signal: 'SIGKILL' } },
    ],
    safety: { maxTargets: 5, timeout: '10m' },
    schedule: { cron: '0 10 * * 1-5', timezone: 'Europe/Berlin' },
  },
};

const VALID_FRAMES: unknown[] = [
  { type: 'hello', protocolVersion: 1, name: 'a', labels: { z: 'a' }, version: '1', capabilities: { faults: ['container-kill'], latencyMechanisms: ['proxy'] }, leaseTimeoutMs: 15000, activeFaults: [] },
  { type: 'pong', ts: 1 },
  { type: 'containers', id: 'r1', containers: [{ id: 'c', name: 'web', labels: {}, image: 'i', state: 'running' }] },
  { type: 'reverted', faultId: 'f', revertedAt: 1, cause: 'lease' },
  { type: 'error', id: 'r', error: { code: 'internal', message: 'x', retryable: false } },
  { type: 'welcome', protocolVersion: 1, heartbeatIntervalMs: 2000 },
  { type: 'ping', ts: 2 },
  { type: 'list-containers', id: 'r2', selector: { labels: { app: 'web' } } },
  { type: 'inject', id: 'r3', faultId: 'f', runId: 'r', fault: 'network-latency', params: { latency: '100ms' }, containerId: 'c', durationMs: 1000 },
  { type: 'revert', id: 'r4', faultId: 'f' },
  { type: 'revert-all', id: 'r5', reason: 'halt' },
];

type Path = (string | number)[];

function paths(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((item, i) => out.push(...paths(item, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [key, item] of Object.entries(value)) out.push(...paths(item, [...prefix, key]));
  return out;
}

/** A deep copy of `value` with the node at `path` replaced (or removed when `replacement` is undefined). */
function mutate(value: unknown, path: Path, replacement: unknown): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  if (path.length === 0) return replacement;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (replacement === undefined) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else node[last] = replacement;
  return copy;
}

const hostileScalar = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    '$(touch /tmp/pwned)',
    '`id`',
    '; rm -rf /',
    '../../etc/passwd',
    '\u0000',
    '\n\r\t',
    '🙂',
    '__proto__',
    'constructor',
    '(a+)+$',
    '[',
    '-1s',
    '1e309ms',
    'NaN',
    '999999999999h',
    'x'.repeat(5000),
  ),
  fc.constant(undefined),
);

/** Mutations of a valid document: one node replaced by something hostile, or removed. */
function mutations<T>(valid: T): fc.Arbitrary<unknown> {
  const all = paths(valid);
  return fc.tuple(fc.constantFrom(...all), hostileScalar).map(([path, replacement]) => mutate(valid, path, replacement));
}

/** Texts that have hurt YAML parsers: aliases, tags, merges, deep nesting, odd directives. */
const yamlTrouble = fc.oneof(
  fc.integer({ min: 1, max: 9 }).map((n) => {
    const level = (i: number): string => `l${i}: &l${i} [${Array(n).fill(i === 0 ? 'x' : `*l${i - 1}`).join(',')}]`;
    return Array.from({ length: 6 }, (_, i) => level(i)).join('\n');
  }),
  fc.integer({ min: 1, max: 300 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.integer({ min: 1, max: 300 }).map((n) => '{a: '.repeat(n)),
  fc.integer({ min: 1, max: 300 }).map((n) => Array.from({ length: n }, (_, i) => `${' '.repeat(i)}- x`).join('\n')),
  fc.constantFrom(
    '!!js/function "function(){}"',
    '--- !!binary aGVsbG8=',
    '<<: {apiVersion: faultline/v1}',
    '__proto__: {polluted: yes}',
    'apiVersion: faultline/v1\nkind: Experiment\nconstructor: {prototype: {polluted: 1}}',
    '%YAML 9.9\n---\nx',
    '? [a, b]\n: c',
    'a: !!timestamp 2001-12-14',
    'a: 1\na: 2',
    '---\n---\n---',
    '\uFEFFkind: Experiment',
    'kind: Experiment\nspec: *missing',
  ),
);

describe('fuzz: parseManifest', () => {
  it('any text gives a manifest or located issues, never a throw, within the time bound', () => {
    fc.assert(fc.property(fc.string({ maxLength: 2000, unit: 'binary' }), checkManifest), { numRuns: RUNS });
  });

  it('any JSON value, as JSON or YAML text, gives a manifest or issues', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.boolean(), (value, asYaml) => {
        checkManifest(asYaml ? stringify(value) : JSON.stringify(value));
      }),
      { numRuns: RUNS },
    );
  });

  it('a valid manifest with any one field replaced or removed gives a manifest or issues', () => {
    expect(parseManifest(JSON.stringify(VALID_MANIFEST)).ok).toBe(true);
    fc.assert(
      fc.property(mutations(VALID_MANIFEST), fc.boolean(), (value, asYaml) => {
        const text = value === undefined ? '' : asYaml ? stringify(value) : JSON.stringify(value);
        checkManifest(text);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('hostile YAML (alias bombs, tags, merge keys, deep nesting) gives issues, never a throw', () => {
    fc.assert(fc.property(yamlTrouble, checkManifest), { numRuns: Math.ceil(RUNS / 4) });
    // Found by this test: an alias bomb made the yaml library throw out of parseManifest.
    const bomb = Array.from({ length: 6 }, (_, i) => `l${i}: &l${i} [${Array(9).fill(i === 0 ? 'x' : `*l${i - 1}`).join(',')}]`).join('\n');
    const result = parseManifest(bomb);
    expect(result.ok).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('fuzz: protocol decoders', () => {
  it('any text or bytes give a message or an invalid_frame error, never a throw', () => {
    fc.assert(fc.property(fc.string({ maxLength: 4000, unit: 'binary' }), checkFrame), { numRuns: RUNS * 2 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), fc.integer({ min: 0, max: 2 }), (bytes, form) => {
        const buffer = Buffer.from(bytes);
        checkFrame(form === 0 ? buffer : form === 1 ? [buffer.subarray(0, 7), buffer.subarray(7)] : new Uint8Array(bytes).buffer);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('any JSON value gives a message or an invalid_frame error', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => checkFrame(JSON.stringify(value))),
      { numRuns: RUNS * 2 },
    );
  });

  it('every valid frame with any one field replaced or removed gives a message or an invalid_frame error', () => {
    for (const frame of VALID_FRAMES) {
      const agent = decodeAgentMessage(JSON.stringify(frame));
      const controller = decodeControllerMessage(JSON.stringify(frame));
      expect(agent.ok || controller.ok, JSON.stringify(frame)).toBe(true);
    }
    fc.assert(
      fc.property(fc.constantFrom(...VALID_FRAMES).chain(mutations), (value) => {
        checkFrame(value === undefined ? '' : JSON.stringify(value));
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('frames at and over the size limit, and deeply nested ones, are refused quickly', () => {
    const big = `{"type":"pong","ts":1,"pad":"${'x'.repeat(1024 * 1024)}"}`;
    const decoded = timed('oversized frame', () => decodeAgentMessage(big));
    expect(decoded.ok).toBe(false);
    for (const depth of [1000, 100_000]) {
      checkFrame(`{"type":"pong","ts":1,"x":${'['.repeat(depth)}${']'.repeat(depth)}}`);
      checkFrame(`{"type":"hello","labels":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`);
    }
    checkFrame('{"__proto__":{"polluted":true},"type":"pong","ts":1}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
