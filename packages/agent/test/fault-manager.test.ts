import { afterEach, describe, expect, it } from 'vitest';
import { FaultManager, toDriverParams, type InjectRequest, type RevertNotice } from '../src/fault-manager.js';
import { buildRegistry } from '../src/faults/registry.js';
import type { FaultContext, FaultDriver } from '../src/faults/types.js';
import { Ledger } from '../src/ledger.js';
import { captureLogger, DB_ID, fakeDocker, fakeDriver, FakeHost, PROTECTED_ID, sleep, tempDir, waitFor, WEB_ID, type FakeDriverBehaviour } from './fakes.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function setUp(behaviour: FakeDriverBehaviour = {}, extraDrivers: (host: FakeHost) => FaultDriver[] = () => []) {
  const dir = tempDir();
  cleanups.push(dir.dispose);
  const host = new FakeHost();
  const { log, lines } = captureLogger();
  const ledger = new Ledger(dir.path);
  const context: FaultContext = { docker: fakeDocker(), ledger, log, capabilities: { latencyMechanisms: ['proxy'] } };
  const notices: RevertNotice[] = [];
  const drivers = buildRegistry([fakeDriver(host, 'network-latency', 'sustained', behaviour), fakeDriver(host, 'container-kill', 'instant'), ...extraDrivers(host)]);
  const manager = new FaultManager({ drivers, context, log, onReverted: (n) => notices.push(n), retryMs: 50 });
  cleanups.push(() => manager.dispose());
  return { manager, host, ledger, notices, lines };
}

const latency = (faultId: string, durationMs: number | null = 60_000, containerId = WEB_ID): InjectRequest => ({
  faultId,
  runId: 'run-1',
  type: 'network-latency',
  params: { latency: '250ms', jitter: '1.5s' },
  containerId,
  durationMs,
});

describe('toDriverParams', () => {
  it('converts duration strings to milliseconds, fills defaults, keeps the rest', () => {
    expect(toDriverParams('network-latency', { latency: '100ms', jitter: '0ms', mechanism: 'auto' })).toEqual({ latencyMs: 100, jitterMs: 0, mechanism: 'auto' });
    expect(toDriverParams('network-latency', { latency: '1s', ports: [80] })).toEqual({ latencyMs: 1000, jitterMs: 0, mechanism: 'auto', ports: [80] });
    expect(toDriverParams('container-stop', {})).toEqual({ timeoutMs: 10_000 });
    expect(toDriverParams('container-restart', { timeout: '2s' })).toEqual({ timeoutMs: 2000 });
    expect(toDriverParams('container-kill', undefined)).toEqual({ signal: 'SIGKILL' });
    expect(toDriverParams('network-loss', { percent: 20 })).toEqual({ percent: 20 });
  });
  it('rejects bad params with invalid_request naming the field', () => {
    expect(() => toDriverParams('network-latency', { latency: 'soon' })).toThrow(expect.objectContaining({ code: 'invalid_request', message: expect.stringMatching(/params\.latency/) }));
    expect(() => toDriverParams('container-kill', { signal: 'KILL' })).toThrow(/params\.signal/);
    expect(() => toDriverParams('network-loss', { percent: 10, extra: 1 })).toThrow(/invalid params for network-loss/);
  });
});

describe('FaultManager', () => {
  it('applies a fault, reports it active, and reverts it', async () => {
    const { manager, host, ledger } = setUp();
    const outcome = await manager.inject(latency('f1'));
    expect(outcome).toMatchObject({ faultId: 'f1', containerId: WEB_ID, containerName: 'web-1', details: { fake: true } });
    expect(outcome.deadline! - outcome.appliedAt).toBe(60_000);
    expect(host.applied.get('f1')?.params).toEqual({ latencyMs: 250, jitterMs: 1500, mechanism: 'auto' });
    expect(manager.active()).toMatchObject([{ faultId: 'f1', type: 'network-latency', containerName: 'web-1', appliedAt: outcome.appliedAt }]);
    expect(await ledger.get('f1')).toMatchObject({ state: 'active' });
    expect(await manager.revert('f1', 'requested')).toMatchObject({ faultId: 'f1', wasActive: true });
    expect(host.applied.size).toBe(0);
    expect(await ledger.get('f1')).toBeUndefined();
    expect(manager.active()).toEqual([]);
  });

  it('answers a repeated inject with the earlier result, in flight or done', async () => {
    const { manager, host } = setUp({ injectDelayMs: 100 });
    const [a, b] = await Promise.all([manager.inject(latency('dup')), manager.inject(latency('dup'))]);
    expect(b).toBe(a);
    expect(await manager.inject(latency('dup'))).toBe(a);
    expect(host.injects).toHaveLength(1);
    // An instant fault is not redone either, even after it finished.
    const kill: InjectRequest = { faultId: 'k1', runId: 'run-1', type: 'container-kill', params: {}, containerId: DB_ID, durationMs: null };
    const first = await manager.inject(kill);
    expect(await manager.inject(kill)).toBe(first);
    expect(host.injects.filter((o) => o.faultId === 'k1')).toHaveLength(1);
    expect(manager.active().map((f) => f.faultId)).toEqual(['dup']);
  });

  it('makes revert idempotent: unknown ids succeed, concurrent calls share one attempt', async () => {
    const { manager, host } = setUp();
    expect(await manager.revert('nope', 'requested')).toMatchObject({ faultId: 'nope', wasActive: false });
    await manager.inject(latency('r1'));
    const [a, b] = await Promise.all([manager.revert('r1', 'requested'), manager.revert('r1', 'halt')]);
    expect(a).toBe(b);
    expect(host.reverts).toEqual(['r1']);
    expect(await manager.revert('r1', 'requested')).toMatchObject({ wasActive: false });
  });

  it('aborts an injection in progress when it is reverted: nothing stays applied', async () => {
    const { manager, host, ledger } = setUp({ injectDelayMs: 2000 });
    const injecting = manager.inject(latency('slow'));
    await waitFor(() => host.injects.length === 1);
    expect(manager.active()).toMatchObject([{ faultId: 'slow', appliedAt: null }]);
    const reverted = await manager.revert('slow', 'requested');
    expect(reverted.wasActive).toBe(false);
    await expect(injecting).rejects.toMatchObject({ code: 'aborted' });
    expect(host.aborted).toEqual(['slow']);
    expect(host.applied.size).toBe(0);
    expect(await ledger.list()).toEqual([]);
  });

  it('a revert does not report success while the ledger still holds the fault: it reverts from the ledger', async () => {
    // The aborted injection cannot undo itself and the clean-up after it fails once: only the revert's
    // own ledger check removes what is left.
    const { manager, host, ledger } = setUp({ injectDelayMs: 2000, leaveLedgerOnAbort: true, failRecovers: 1 });
    const injecting = manager.inject(latency('stuck'));
    await waitFor(() => host.injects.length === 1);
    const reverted = await manager.revert('stuck', 'requested');
    await expect(injecting).rejects.toMatchObject({ code: 'aborted' });
    expect(reverted.wasActive).toBe(false);
    expect(host.recovered).toEqual(['stuck']);
    expect(await ledger.list()).toEqual([]);
  });

  it('reverts a sustained fault at its deadline on its own and reports the cause', async () => {
    const { manager, host, notices } = setUp();
    const outcome = await manager.inject(latency('d1', 150));
    await waitFor(() => notices.length === 1, 2000, 'the deadline notice');
    expect(notices[0]).toMatchObject({ faultId: 'd1', runId: 'run-1', cause: 'deadline' });
    expect(notices[0]!.error).toBeUndefined();
    expect(host.applied.size).toBe(0);
    expect(host.revertedAt.get('d1')! - outcome.appliedAt).toBeGreaterThanOrEqual(145);
  });

  it('retries a failed deadline revert and reports each failure', async () => {
    const { manager, host, notices } = setUp({ failReverts: 2 });
    await manager.inject(latency('d2', 50));
    await waitFor(() => notices.length === 3, 3000, 'the retried revert');
    expect(host.reverts).toEqual(['d2']);
    expect(notices.map((n) => [n.cause, n.error?.code])).toEqual([
      ['deadline', 'revert_failed'],
      ['deadline', 'revert_failed'],
      ['deadline', undefined],
    ]);
    expect(manager.active()).toEqual([]);
  });

  it('after a failed requested revert, still reverts the fault on its own', async () => {
    const { manager, host, notices } = setUp({ failReverts: 1 });
    await manager.inject(latency('q1', 200));
    await expect(manager.revert('q1', 'requested')).rejects.toMatchObject({ code: 'revert_failed' });
    expect(manager.active().map((f) => f.faultId)).toEqual(['q1']);
    await waitFor(() => notices.length === 1, 3000, 'the fallback revert');
    expect(host.reverts).toEqual(['q1']);
    expect(notices).toMatchObject([{ faultId: 'q1', cause: 'deadline' }]);
    expect(notices[0]!.error).toBeUndefined();
  });

  it('reverts everything with revertAll, reporting failures without stopping', async () => {
    const failing = (host: FakeHost) => [fakeDriver(host, 'container-pause', 'sustained', { failReverts: 1 })];
    const { manager, host, notices } = setUp({}, failing);
    await manager.inject(latency('a1'));
    await manager.inject(latency('a2', 60_000, DB_ID));
    await manager.inject({ faultId: 'p1', runId: 'run-1', type: 'container-pause', params: {}, containerId: DB_ID, durationMs: 60_000 });
    const outcome = await manager.revertAll('lease');
    expect(outcome.reverted.sort()).toEqual(['a1', 'a2']);
    expect(outcome.failed).toMatchObject([{ faultId: 'p1', error: { code: 'revert_failed' } }]);
    expect(notices.filter((n) => !n.error).map((n) => n.faultId).sort()).toEqual(['a1', 'a2']);
    expect(notices.filter((n) => n.error)).toMatchObject([{ faultId: 'p1', cause: 'lease', error: { code: 'revert_failed' } }]);
    // The failed one is still held, and a second attempt succeeds.
    expect(manager.active().map((f) => f.faultId)).toEqual(['p1']);
    expect((await manager.revertAll('halt')).reverted).toEqual(['p1']);
    expect(host.applied.size).toBe(0);
  });

  it('refuses protected and missing containers, unknown drivers and sustained faults without a duration', async () => {
    const { manager, host } = setUp();
    await expect(manager.inject(latency('p', 1000, PROTECTED_ID))).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/protected/) });
    await expect(manager.inject(latency('m', 1000, 'f'.repeat(64)))).rejects.toMatchObject({ code: 'not_found' });
    await expect(manager.inject({ ...latency('u'), type: 'network-loss', params: { percent: 5 } })).rejects.toMatchObject({ code: 'unsupported' });
    await expect(manager.inject({ ...latency('t'), type: 'make-coffee' })).rejects.toMatchObject({ code: 'unsupported' });
    await expect(manager.inject(latency('n', null))).rejects.toMatchObject({ code: 'invalid_request' });
    expect(host.injects).toEqual([]);
    expect(manager.active()).toEqual([]);
  });

  it('forgets a failed injection so that it can be retried', async () => {
    const { manager, host } = setUp({ failInject: true });
    await expect(manager.inject(latency('x'))).rejects.toMatchObject({ code: 'fault_failed' });
    expect(manager.active()).toEqual([]);
    await expect(manager.inject(latency('x'))).rejects.toMatchObject({ code: 'fault_failed' });
    expect(host.injects).toHaveLength(2);
  });

  it('lists non-protected containers matching a selector', async () => {
    const { manager } = setUp();
    expect((await manager.listContainers({})).map((c) => c.name)).toEqual(['web-1', 'db-1']);
    expect((await manager.listContainers({ names: ['db-1'] })).map((c) => c.id)).toEqual([DB_ID]);
  });

  it('after shutdown() reverts everything and refuses new faults', async () => {
    const { manager, host, notices } = setUp();
    await manager.inject(latency('s1'));
    const outcome = await manager.shutdown();
    expect(outcome).toEqual({ reverted: ['s1'], failed: [] });
    expect(notices).toMatchObject([{ faultId: 's1', cause: 'shutdown' }]);
    await expect(manager.inject(latency('s2'))).rejects.toMatchObject({ code: 'agent_unavailable', retryable: true });
    await sleep(20);
    expect(host.applied.size).toBe(0);
  });
});
