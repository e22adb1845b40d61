import { describe, expect, it } from 'vitest';
import { timeoutSeconds } from '../src/faults/container-common.js';
import { containerStopDriver } from '../src/faults/container-stop.js';
import type { FaultOrder } from '../src/faults/types.js';
import { httpGet, TEST_IMAGE, TEST_LABEL, type TestContainer } from './helpers/docker.js';
import { useDockerFaultSuite } from './helpers/fault-suite.js';

// Needs a real Docker engine. busybox httpd runs as pid 1 and ignores SIGTERM, so docker stop always
// waits for its timeout: the tests use 1 s.

describe('container-stop (real Docker)', { timeout: 60_000 }, () => {
  const env = useDockerFaultSuite();
  let n = 0;

  async function container(): Promise<TestContainer> {
    return env.container();
  }

  function order(c: { id: string; name: string }, params: unknown = { timeoutMs: 1000 }): FaultOrder {
    n += 1;
    return { faultId: `stop-${process.pid}-${n}`, runId: 'run', type: 'container-stop', params, target: { containerId: c.id, containerName: c.name }, durationMs: 60_000 };
  }

  const inspect = (c: TestContainer) => env.docker.getContainer(c.id).inspect();
  /** The published port may change when the container starts again. */
  const port = async (c: TestContainer) => Number((await inspect(c)).NetworkSettings.Ports['80/tcp']?.[0]?.HostPort);

  it('stops (Docker says exited, a client cannot get an answer), starts again at revert, and reverts again as a no-op', async () => {
    const c = await container();
    const o = order(c);
    const before = (await inspect(c)).State;
    const { revert, details } = await containerStopDriver.inject(env.ctx, o, new AbortController().signal);
    expect(details).toMatchObject({ containerId: c.id, timeoutMs: 1000 });
    expect((await inspect(c)).State).toMatchObject({ Status: 'exited', Running: false });
    expect(await env.ctx.ledger.get(o.faultId)).toMatchObject({ state: 'active', type: 'container-stop' });
    await expect(httpGet(c.hostPort, 1000)).rejects.toThrow();

    await revert();
    const after = (await inspect(c)).State;
    expect(after).toMatchObject({ Status: 'running', Running: true });
    expect(after.Pid).not.toBe(before.Pid);
    expect(await env.ctx.ledger.get(o.faultId)).toBeUndefined();
    await expect.poll(async () => (await httpGet(await port(c), 1000).catch(() => ({ status: 0 }))).status, { timeout: 5000 }).toBe(200);

    await revert();
    expect((await inspect(c)).State.Pid).toBe(after.Pid);
  });

  it('recover() starts the container from the ledger entry alone, and again as a no-op', async () => {
    const c = await container();
    const o = order(c);
    await containerStopDriver.inject(env.ctx, o, new AbortController().signal);
    const entry = await env.ctx.ledger.get(o.faultId);
    await containerStopDriver.recover(env.ctx, entry!);
    const pid = (await inspect(c)).State.Pid;
    expect((await inspect(c)).State.Running).toBe(true);
    await containerStopDriver.recover(env.ctx, entry!);
    expect((await inspect(c)).State.Pid).toBe(pid);
    expect(await env.ctx.ledger.get(o.faultId)).toBeUndefined();
  });

  it('does not start a container that someone started and stopped again since the fault', async () => {
    const c = await container();
    const o = order(c);
    const { revert } = await containerStopDriver.inject(env.ctx, o, new AbortController().signal);
    await env.docker.getContainer(c.id).start();
    await env.docker.getContainer(c.id).stop({ t: 1 });
    const finishedAt = (await inspect(c)).State.FinishedAt;
    await revert();
    expect((await inspect(c)).State).toMatchObject({ Running: false, FinishedAt: finishedAt });
    expect(await env.ctx.ledger.get(o.faultId)).toBeUndefined();
  });

  it('a revert that comes during the stop starts the container again and leaves no ledger entry', async () => {
    const c = await container();
    const o = order(c);
    const abort = new AbortController();
    const injecting = containerStopDriver.inject(env.ctx, o, abort.signal);
    setTimeout(() => abort.abort(), 200);
    await expect(injecting).rejects.toMatchObject({ code: 'aborted' });
    expect((await inspect(c)).State.Running).toBe(true);
    expect(await env.ctx.ledger.get(o.faultId)).toBeUndefined();
  });

  it('refuses a --rm container (it could not be started again) and a stopped one', async () => {
    const created = await env.docker.createContainer({ Image: TEST_IMAGE, name: `faultline-test-rm-${process.pid}-${Date.now()}`, Labels: { [TEST_LABEL]: 'true' }, HostConfig: { AutoRemove: true } });
    try {
      await created.start();
      const info = await created.inspect();
      await expect(containerStopDriver.inject(env.ctx, order({ id: info.Id, name: info.Name.slice(1) }), new AbortController().signal)).rejects.toThrow(/--rm/);
      expect((await created.inspect()).State.Running).toBe(true);
    } finally {
      await created.remove({ force: true }).catch(() => undefined);
    }
    const c = await container();
    await env.docker.getContainer(c.id).stop({ t: 0 });
    await expect(containerStopDriver.inject(env.ctx, order(c), new AbortController().signal)).rejects.toMatchObject({ code: 'conflict' });
    expect(await env.ctx.ledger.list()).toEqual([]);
  });

  it('rounds the timeout up to whole seconds, as Docker takes it', () => {
    expect(timeoutSeconds(0)).toBe(0);
    expect(timeoutSeconds(500)).toBe(1);
    expect(timeoutSeconds(10_000)).toBe(10);
  });
});
