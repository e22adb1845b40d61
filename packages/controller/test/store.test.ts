import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseManifest, type Experiment, type RunJournal, type RunStatus } from '@faultline/shared';
import { Store } from '../src/store/store.js';
import { ensureTokens, readTokenFile } from '../src/store/tokens.js';

const SOURCE = `apiVersion: faultline/v1
kind: Experiment
metadata: {name: web-latency}
spec:
  targets:
    web: {containers: {labels: {app: web}}}
  method:
    - fault: network-latency
      target: web
      duration: 30s
      params: {latency: 300ms}
`;

let cached: Experiment | undefined;
function experiment(): Experiment {
  if (cached) return structuredClone(cached);
  const result = parseManifest(SOURCE);
  if (!result.ok || result.manifest.kind !== 'Experiment') throw new Error('fixture manifest is invalid');
  cached = result.manifest;
  return structuredClone(cached);
}

function journal(id: string, overrides: Partial<RunJournal> = {}): RunJournal {
  return {
    id,
    experiment: 'web-latency',
    status: 'pending',
    reason: null,
    dryRun: false,
    trigger: 'manual',
    createdAt: 1_700_000_000_000,
    startedAt: null,
    endedAt: null,
    manifest: experiment(),
    plan: null,
    steadyState: { before: [], during: [], after: [] },
    faults: [],
    timeline: [],
    ...overrides,
  };
}

const dirs: string[] = [];
const stores: Store[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-store-'));
  dirs.push(dir);
  return dir;
}

function open(dir: string): Store {
  const store = Store.open(dir);
  stores.push(store);
  return store;
}

afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('Store', () => {
  it('creates the data dir private, in WAL mode', () => {
    const dataDir = join(tempDir(), 'nested', 'data');
    const store = open(dataDir);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(store.path).mode & 0o077).toBe(0);
    expect(statSync(`${store.path}-wal`).isFile()).toBe(true);
  });

  it('round-trips experiments', () => {
    const store = open(tempDir());
    const manifest = experiment();
    const saved = store.putExperiment({ name: 'web-latency', source: SOURCE, format: 'yaml', origin: 'file', manifest });
    expect(saved.updatedAt).toBeGreaterThan(0);
    const got = store.getExperiment('web-latency');
    expect(got).toMatchObject({ name: 'web-latency', source: SOURCE, format: 'yaml', origin: 'file' });
    expect(got?.manifest).toEqual(manifest);

    store.putExperiment({ name: 'web-latency', source: '{}', format: 'json', origin: 'api', manifest });
    store.putExperiment({ name: 'a-first', source: SOURCE, format: 'yaml', origin: 'api', manifest });
    expect(store.getExperiment('web-latency')).toMatchObject({ source: '{}', format: 'json', origin: 'api' });
    expect(store.listExperiments().map((e) => e.name)).toEqual(['a-first', 'web-latency']);

    expect(store.deleteExperiment('web-latency')).toBe(true);
    expect(store.deleteExperiment('web-latency')).toBe(false);
    expect(store.getExperiment('web-latency')).toBeUndefined();
  });

  it('round-trips runs and upserts on save', () => {
    const store = open(tempDir());
    const run = journal('r1');
    store.insertRun(run);
    expect(store.getRun('r1')).toEqual(run);
    expect(() => store.insertRun(run)).toThrow(/already exists/);

    const done = journal('r1', {
      status: 'deviated',
      reason: 'probe homepage failed during',
      startedAt: run.createdAt + 10,
      endedAt: run.createdAt + 5000,
      timeline: [{ at: run.createdAt + 10, kind: 'status', message: 'running' }],
    });
    store.saveRun(done);
    expect(store.getRun('r1')).toEqual(done);
    expect(store.listRuns()).toEqual([
      {
        id: 'r1',
        experiment: 'web-latency',
        status: 'deviated',
        reason: 'probe homepage failed during',
        dryRun: false,
        trigger: 'manual',
        createdAt: run.createdAt,
        startedAt: run.createdAt + 10,
        endedAt: run.createdAt + 5000,
      },
    ]);
    store.saveRun(journal('r2'));
    expect(store.getRun('r2')?.id).toBe('r2');
    expect(store.getRun('nope')).toBeUndefined();
  });

  it('lists runs newest first with filters and a limit', () => {
    const store = open(tempDir());
    const statuses: RunStatus[] = ['completed', 'deviated', 'running', 'completed', 'failed', 'pending'];
    statuses.forEach((status, i) => {
      store.insertRun(
        journal(`r${i}`, { status, experiment: i % 2 === 0 ? 'even' : 'odd', createdAt: 1000 + i, dryRun: i === 3 }),
      );
    });
    // Same millisecond: the later insert is the newer run.
    store.insertRun(journal('r6', { createdAt: 1005, experiment: 'odd' }));

    expect(store.listRuns().map((r) => r.id)).toEqual(['r6', 'r5', 'r4', 'r3', 'r2', 'r1', 'r0']);
    expect(store.listRuns({ experiment: 'even' }).map((r) => r.id)).toEqual(['r4', 'r2', 'r0']);
    expect(store.listRuns({ status: 'completed' }).map((r) => r.id)).toEqual(['r3', 'r0']);
    expect(store.listRuns({ experiment: 'odd', status: 'completed' }).map((r) => r.id)).toEqual(['r3']);
    expect(store.listRuns({ limit: 2 }).map((r) => r.id)).toEqual(['r6', 'r5']);
    expect(store.listRuns({ limit: 0 })).toHaveLength(1);
    expect(store.listRuns({ experiment: 'none' })).toEqual([]);
    expect(store.listRuns({ status: 'completed' })[0]?.dryRun).toBe(true);
    expect(store.interruptedRuns().map((r) => [r.id, r.status])).toEqual([
      ['r2', 'running'],
      ['r5', 'pending'],
      ['r6', 'pending'],
    ]);
  });

  it('caps the list limit at 1000 and defaults to 50', () => {
    const store = open(tempDir());
    for (let i = 0; i < 1005; i++) store.insertRun(journal(`r${i}`, { createdAt: i }));
    expect(store.listRuns()).toHaveLength(50);
    expect(store.listRuns({ limit: 5000 })).toHaveLength(1000);
  });

  it('keeps settings', () => {
    const store = open(tempDir());
    expect(store.getSetting('halt')).toBeUndefined();
    store.setSetting('halt', '{"reason":"drill"}');
    store.setSetting('halt', '{"reason":"incident"}');
    expect(store.getSetting('halt')).toBe('{"reason":"incident"}');
    store.deleteSetting('halt');
    store.deleteSetting('halt');
    expect(store.getSetting('halt')).toBeUndefined();
  });

  it('keeps everything across close and reopen', () => {
    const dir = tempDir();
    const first = open(dir);
    first.putExperiment({ name: 'web-latency', source: SOURCE, format: 'yaml', origin: 'api', manifest: experiment() });
    first.insertRun(journal('r1', { status: 'running' }));
    first.setSetting('halt', 'yes');
    first.close();
    first.close();
    expect(first.isOpen).toBe(false);

    const second = open(dir);
    expect(second.getExperiment('web-latency')?.origin).toBe('api');
    expect(second.getRun('r1')?.status).toBe('running');
    expect(second.interruptedRuns()).toHaveLength(1);
    expect(second.getSetting('halt')).toBe('yes');
  });

  it('refuses a database from a newer schema', () => {
    const dir = tempDir();
    const store = open(dir);
    store.close();
    // Simulate a newer Faultline having migrated the file.
    const db = new Database(store.path);
    db.pragma('user_version = 99');
    db.close();
    expect(() => Store.open(dir)).toThrow(/newer version/);
  });
});

describe('ensureTokens', () => {
  it('generates private token files once and reuses them', () => {
    const dir = join(tempDir(), 'data');
    const first = ensureTokens(dir);
    expect(first.generated).toEqual([join(dir, 'api-token'), join(dir, 'agent-token')]);
    expect(first.apiToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.agentToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.apiToken).not.toBe(first.agentToken);
    for (const file of first.generated) expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readTokenFile(join(dir, 'api-token'))).toBe(first.apiToken);

    const second = ensureTokens(dir);
    expect(second).toEqual({ apiToken: first.apiToken, agentToken: first.agentToken, generated: [] });
  });

  it('prefers given tokens and writes no file for them', () => {
    const dir = tempDir();
    const tokens = ensureTokens(dir, { apiToken: 'given-api' });
    expect(tokens.apiToken).toBe('given-api');
    expect(tokens.generated).toEqual([join(dir, 'agent-token')]);
    expect(readTokenFile(join(dir, 'api-token'))).toBeUndefined();
  });

  it('reads tokens written by hand and replaces blank files', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'api-token'), '  hand-written\n', { mode: 0o600 });
    writeFileSync(join(dir, 'agent-token'), '\n', { mode: 0o644 });
    const tokens = ensureTokens(dir);
    expect(tokens.apiToken).toBe('hand-written');
    expect(tokens.generated).toEqual([join(dir, 'agent-token')]);
    expect(statSync(join(dir, 'agent-token')).mode & 0o777).toBe(0o600);
  });
});
