// The fault manager follows the targets of sustained faults through Docker events: a restarted
// target gets its network fault applied again in the new namespace, a removed target gets its fault
// reverted (cause target-removed). A scripted engine stands in for Docker here; the real thing is
// test/e2e/target-restart.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { FaultManager, type InjectRequest, type RevertNotice } from '../src/fault-manager.js';
import { buildRegistry } from '../src/faults/registry.js';
import { targetRestartPolicy, type FaultContext, type FaultDriver } from '../src/faults/types.js';
import type { ContainerDetails, ContainerEvent, DockerHost } from '../src/host/docker.js';
import { AgentError } from '../src/host/errors.js';
import { Ledger } from '../src/ledger.js';
import { captureLogger, DB_ID, sleep, tempDir, waitFor, WEB_ID } from './fakes.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A Docker engine whose containers restart and disappear when the test says so, with events. */
class ScriptedEngine {
  readonly pids = new Map<string, number>([
    [WEB_ID, 100],
    [DB_ID, 200],
  ]);
  readonly subscribers = new Set<(event: ContainerEvent | 'end') => void>();
  subscriptions = 0;
  /** When false, a restart changes the pid without an event (a missed event). */
  emit = true;

  restart(id: string): void {
    this.pids.set(id, (this.pids.get(id) ?? 0) + 1);
    if (this.emit) this.#send('start', id);
  }

  /** Ends every event stream, as when the Docker engine restarts. */
  dropStreams(): void {
    for (const subscriber of this.subscribers) subscriber('end');
  }

  remove(id: string): void {
    this.pids.delete(id);
    this.#send('destroy', id);
  }

  #send(action: string, id: string): void {
    for (const subscriber of this.subscribers) subscriber({ action, id, name: this.name(id), time: Date.now(), attributes: {} });
  }

  name(id: string): string {
    return id === WEB_ID ? 'web-1' : 'db-1';
  }

  details(id: string): ContainerDetails | null {
    const pid = this.pids.get(id);
    if (pid === undefined) return null;
    return {
      id,
      name: this.name(id),
      pid,
      running: true,
      paused: false,
      status: 'running',
      exitCode: 0,
      restartCount: 0,
      exposedTcpPorts: [80],
      startedAt: `pid-${pid}`,
      labels: {},
      image: 'busybox:test',
      networkMode: 'bridge',
    };
  }

  host(): DockerHost {
    return ScriptedEngine.hostOf(this);
  }

  static hostOf(engine: ScriptedEngine): DockerHost {
    const fake = {
      tryInspect: async (id: string) => engine.details(id),
      inspect: async (id: string) => {
        const details = engine.details(id);
        if (!details) throw new AgentError('not_found', `no such container ${id}`);
        return details;
      },
      isProtected: () => false,
      events: async function* (options: { signal?: AbortSignal; onSubscribed?: () => void } = {}) {
        const queue: (ContainerEvent | 'end')[] = [];
        let wake: (() => void) | undefined;
        const subscriber = (event: ContainerEvent | 'end') => {
          queue.push(event);
          wake?.();
        };
        engine.subscribers.add(subscriber);
        engine.subscriptions += 1;
        options.signal?.addEventListener('abort', () => wake?.(), { once: true });
        try {
          options.onSubscribed?.();
          while (!options.signal?.aborted) {
            const event = queue.shift();
            if (event === 'end') return;
            if (event) yield event;
            else await new Promise<void>((resolve) => (wake = resolve));
          }
        } finally {
          engine.subscribers.delete(subscriber);
        }
      },
    };
    return fake as unknown as DockerHost;
  }
}

/** Where each fault is "applied": fault id -> pid of the namespace that holds it. */
type Applied = Map<string, number>;

/** A network driver that applies its fault to the container's current pid, like the real ones. */
function namespaceDriver(type: string, applied: Applied, log: string[], options: { injectDelayMs?: number; onTargetRestart?: 'reapply' | 'ignore' } = {}): FaultDriver {
  return {
    type,
    kind: 'sustained',
    ...(options.onTargetRestart ? { onTargetRestart: options.onTargetRestart } : {}),
    async inject(ctx, order, signal) {
      const target = await ctx.docker.inspect(order.target.containerId);
      await ctx.ledger.record({
        faultId: order.faultId,
        runId: order.runId,
        type: order.type,
        containerId: target.id,
        containerName: target.name,
        pid: target.pid,
        params: order.params,
        artifacts: {},
        deadline: order.durationMs === null ? null : Date.now() + order.durationMs,
      });
      if (options.injectDelayMs) await sleep(options.injectDelayMs);
      if (signal.aborted) {
        await ctx.ledger.remove(order.faultId);
        throw new AgentError('aborted', 'aborted');
      }
      applied.set(order.faultId, target.pid);
      log.push(`inject ${order.faultId} pid=${target.pid} durationMs=${order.durationMs}`);
      let done = false;
      return {
        details: { pid: target.pid },
        revert: async () => {
          if (done) return;
          applied.delete(order.faultId);
          log.push(`revert ${order.faultId} pid=${target.pid}`);
          await ctx.ledger.remove(order.faultId);
          done = true;
        },
      };
    },
    async recover(ctx, entry) {
      applied.delete(entry.faultId);
      await ctx.ledger.remove(entry.faultId);
    },
  };
}

function setUp(driverOptions: Parameters<typeof namespaceDriver>[3] = {}) {
  const dir = tempDir();
  cleanups.push(dir.dispose);
  const engine = new ScriptedEngine();
  const { log, lines } = captureLogger();
  const ledger = new Ledger(dir.path);
  const context: FaultContext = { docker: engine.host(), ledger, log, capabilities: { latencyMechanisms: ['proxy'] } };
  const applied: Applied = new Map();
  const calls: string[] = [];
  const drivers = buildRegistry([namespaceDriver('network-latency', applied, calls, driverOptions), namespaceDriver('container-pause', applied, calls)]);
  const notices: RevertNotice[] = [];
  const manager = new FaultManager({ drivers, context, log, onReverted: (n) => notices.push(n), retryMs: 50 });
  cleanups.push(() => manager.dispose());
  return { engine, manager, ledger, applied, calls, notices, lines };
}

const latency = (faultId: string, containerId = WEB_ID, durationMs = 60_000): InjectRequest => ({
  faultId,
  runId: 'run-1',
  type: 'network-latency',
  params: { latency: '100ms' },
  containerId,
  durationMs,
});

describe('targets that restart or disappear during a sustained fault', () => {
  it('a restarted target gets the fault again in its new namespace, same fault id, same deadline; the revert removes it there', async () => {
    const { engine, manager, ledger, applied, calls } = setUp();
    const outcome = await manager.inject(latency('f1'));
    await waitFor(() => engine.subscriptions > 0, 1000, 'the event subscription');
    expect(applied.get('f1')).toBe(100);

    engine.restart(WEB_ID);
    await waitFor(() => applied.get('f1') === 101, 2000, 'the fault applied in the new namespace');
    const entry = await ledger.get('f1');
    expect(entry).toMatchObject({ faultId: 'f1', pid: 101, state: 'applying' });
    // The rest of its duration: the same deadline (give or take the time the re-injection took).
    expect(Math.abs(entry!.deadline! - outcome.deadline!)).toBeLessThan(200);
    expect(calls[1]).toBe('revert f1 pid=100');
    expect(calls[2]).toMatch(/^inject f1 pid=101 durationMs=\d+$/);
    expect(Number(/durationMs=(\d+)/.exec(calls[2]!)![1])).toBeLessThanOrEqual(60_000);
    expect(manager.active()).toMatchObject([{ faultId: 'f1', deadline: outcome.deadline }]);

    expect(await manager.revert('f1', 'requested')).toMatchObject({ wasActive: true });
    expect(applied.size).toBe(0);
    expect(await ledger.list()).toEqual([]);
    // Nothing held any more: the manager stops following events.
    await waitFor(() => engine.subscribers.size === 0, 1000, 'the subscription to end');
  });

  it('a restart missed while the event stream was down is found when it subscribes again', async () => {
    const { engine, manager, applied } = setUp();
    await manager.inject(latency('f1'));
    await waitFor(() => engine.subscriptions === 1, 1000, 'the subscription');
    // The engine restarts: the stream ends, and the container restarts before the manager is back.
    engine.emit = false;
    engine.restart(WEB_ID);
    engine.dropStreams();
    await waitFor(() => engine.subscriptions === 2, 2000, 'a new subscription');
    await waitFor(() => applied.get('f1') === 101, 2000, 'the missed restart to be caught up');
    await manager.revertAll('requested');
    expect(applied.size).toBe(0);
  });

  it('a removed target: the fault is reverted with cause target-removed and reported; others keep theirs', async () => {
    const { engine, manager, applied, notices, lines, ledger } = setUp();
    await manager.inject(latency('f1', WEB_ID));
    await manager.inject(latency('f2', DB_ID));
    await waitFor(() => engine.subscriptions > 0, 1000, 'the subscription');
    engine.remove(WEB_ID);
    await waitFor(() => notices.length > 0, 2000, 'the revert notice');
    expect(notices).toMatchObject([{ faultId: 'f1', runId: 'run-1', cause: 'target-removed' }]);
    expect(notices[0]!.error).toBeUndefined();
    expect(applied.has('f1')).toBe(false);
    expect(applied.get('f2')).toBe(200);
    expect(lines.some((line) => String(line.msg).includes('was removed while the fault was active'))).toBe(true);
    // The controller's own revert afterwards is a no-op, not an error.
    expect(await manager.revert('f1', 'requested')).toMatchObject({ wasActive: false });
    expect(await manager.revertAll('requested')).toMatchObject({ reverted: ['f2'], failed: [] });
    expect(await ledger.list()).toEqual([]);
  });

  it('container faults are not applied again after a restart (policy ignore)', async () => {
    const { engine, manager, applied, calls } = setUp();
    await manager.inject({ faultId: 'p1', runId: 'run-1', type: 'container-pause', params: {}, containerId: WEB_ID, durationMs: 60_000 });
    await waitFor(() => engine.subscriptions > 0, 1000, 'the subscription');
    engine.restart(WEB_ID);
    await sleep(100);
    expect(applied.get('p1')).toBe(100);
    expect(calls).toEqual(['inject p1 pid=100 durationMs=60000']);
    await manager.revert('p1', 'requested');
  });

  it('a revert that arrives while the fault is being applied again leaves nothing behind', async () => {
    const { engine, manager, applied, ledger } = setUp({ injectDelayMs: 150 });
    await manager.inject(latency('f1'));
    await waitFor(() => engine.subscriptions > 0, 1000, 'the subscription');
    engine.restart(WEB_ID);
    await sleep(50);
    expect(await manager.revert('f1', 'requested')).toMatchObject({ wasActive: true });
    await sleep(300);
    expect(applied.size).toBe(0);
    expect(await ledger.list()).toEqual([]);
  });

  it('the default policy: network faults are applied again, container faults are not, instant ones never', () => {
    expect(targetRestartPolicy({ type: 'network-loss', kind: 'sustained' })).toBe('reapply');
    expect(targetRestartPolicy({ type: 'container-stop', kind: 'sustained' })).toBe('ignore');
    expect(targetRestartPolicy({ type: 'network-latency', kind: 'sustained', onTargetRestart: 'ignore' })).toBe('ignore');
    expect(targetRestartPolicy({ type: 'container-kill', kind: 'instant' })).toBe('ignore');
  });
});
