import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ledger, type LedgerRecord } from '../src/ledger.js';

function sample(faultId: string): LedgerRecord {
  return {
    faultId,
    runId: 'run-1',
    type: 'network-latency',
    containerId: 'c'.repeat(64),
    containerName: 'web-1',
    pid: 1234,
    params: { latencyMs: 100, jitterMs: 0 },
    mechanism: 'proxy',
    artifacts: { chain: 'FL-0123456789ab' },
    deadline: Date.now() + 30_000,
  };
}

describe('Ledger', () => {
  let stateDir: string;
  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'faultline-ledger-'));
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('records, updates (merging artifacts), lists and removes entries as one JSON file each', async () => {
    const ledger = new Ledger(stateDir);
    const entry = await ledger.record(sample('f-1'));
    expect(entry.state).toBe('applying');
    expect(typeof entry.recordedAt).toBe('number');
    const file = join(stateDir, 'ledger', 'f-1.json');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(entry);

    const updated = await ledger.update('f-1', { state: 'active', artifacts: { proxyPid: 42, listenPorts: [15001] } });
    expect(updated.artifacts).toEqual({ chain: 'FL-0123456789ab', proxyPid: 42, listenPorts: [15001] });
    expect(updated.state).toBe('active');
    expect(await ledger.get('f-1')).toEqual(updated);

    await ledger.record(sample('f-2'));
    expect((await ledger.list()).map((e) => e.faultId).sort()).toEqual(['f-1', 'f-2']);

    await ledger.remove('f-1');
    await ledger.remove('f-1'); // idempotent
    expect((await ledger.list()).map((e) => e.faultId)).toEqual(['f-2']);
    expect(await readdir(join(stateDir, 'ledger'))).toEqual(['f-2.json']);
  });

  it('refuses to record the same fault twice and to update a missing one', async () => {
    const ledger = new Ledger(stateDir);
    await ledger.record(sample('dup'));
    await expect(ledger.record(sample('dup'))).rejects.toThrow(/already in the ledger/);
    await expect(ledger.update('missing', { state: 'active' })).rejects.toThrow(/not in the ledger/);
  });

  it('rejects fault ids that are not safe file names', async () => {
    const ledger = new Ledger(stateDir);
    await expect(ledger.record(sample('../escape'))).rejects.toThrow(/invalid fault id/);
    await expect(ledger.record(sample('.hidden'))).rejects.toThrow(/invalid fault id/);
  });

  it('lists an empty ledger when the directory does not exist yet', async () => {
    expect(await new Ledger(join(stateDir, 'nope')).list()).toEqual([]);
  });

  it('skips and reports corrupt files without failing, and leaves them in place', async () => {
    const problems: string[] = [];
    const ledger = new Ledger(stateDir, { onCorrupt: (p) => problems.push(`${p.file}: ${p.error}`) });
    await ledger.record(sample('good'));
    const dir = join(stateDir, 'ledger');
    await writeFile(join(dir, 'truncated.json'), '{"faultId": "trunc');
    await writeFile(join(dir, 'wrong-shape.json'), JSON.stringify({ faultId: 'wrong-shape', hello: 1 }));
    await writeFile(join(dir, 'mismatch.json'), JSON.stringify({ ...sample('other'), recordedAt: 1, state: 'active' }));
    await writeFile(join(dir, 'README'), 'not a ledger file');

    const entries = await ledger.list();
    expect(entries.map((e) => e.faultId)).toEqual(['good']);
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/truncated\.json/);
    expect(problems.join('\n')).toMatch(/mismatch\.json: faultId "other" does not match/);
    const scan = await ledger.scan();
    expect(scan.corrupt.map((c) => c.file.split('/').pop()).sort()).toEqual(['mismatch.json', 'truncated.json', 'wrong-shape.json']);
    expect((await readdir(dir)).sort()).toContain('truncated.json');
  });

  it('writes atomically: a leftover temporary file from a crashed write is ignored and cleaned, the old entry survives', async () => {
    const ledger = new Ledger(stateDir);
    const original = await ledger.record(sample('atomic'));
    const dir = join(stateDir, 'ledger');
    // What a crash between write and rename leaves behind (from another process id).
    await writeFile(join(dir, 'atomic.json.999999.deadbeef.tmp'), '{"half": ');
    const entries = await ledger.list();
    expect(entries).toEqual([original]);
    expect(await readdir(dir)).toEqual(['atomic.json']);
  });

  it('never leaves a temporary file after writes, and concurrent updates all land', async () => {
    const ledger = new Ledger(stateDir);
    await ledger.record(sample('busy'));
    await Promise.all([
      ledger.update('busy', { artifacts: { proxyPid: 1 } }),
      ledger.update('busy', { artifacts: { listenPorts: [2] } }),
      ledger.update('busy', { state: 'active' }),
    ]);
    const entry = await ledger.get('busy');
    expect(entry?.artifacts).toMatchObject({ chain: 'FL-0123456789ab', proxyPid: 1, listenPorts: [2] });
    expect(entry?.state).toBe('active');
    expect(await readdir(join(stateDir, 'ledger'))).toEqual(['busy.json']);
  });
});
