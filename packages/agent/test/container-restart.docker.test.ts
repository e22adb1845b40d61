import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { containerRestartDriver } from '../src/faults/container-restart.js';
import type { FaultOrder } from '../src/faults/types.js';
import { makeContext } from './helpers/context.js';
import { ensureTestImage, httpGet, startTestContainer, type TestContainer } from './helpers/docker.js';

// Needs a real Docker engine.

describe('container-restart (real Docker)', { timeout: 60_000 }, () => {
  const env = makeContext({ latencyProxyScript: '/nonexistent' });
  const containers: TestContainer[] = [];
  let n = 0;

  beforeAll(async () => {
    await ensureTestImage();
  }, 120_000);

  afterAll(() => env.dispose());

  afterEach(async () => {
    for (const c of containers.splice(0)) await c.remove();
  });

  function order(c: TestContainer, params: unknown = { timeoutMs: 1000 }): FaultOrder {
    n += 1;
    return { faultId: `restart-${process.pid}-${n}`, runId: 'run', type: 'container-restart', params, target: { containerId: c.id, containerName: c.name }, durationMs: null };
  }

  it('restarts the container: new process, new start time, answering again; nothing to revert', async () => {
    const c = await startTestContainer(env.docker);
    containers.push(c);
    const container = env.docker.getContainer(c.id);
    const before = (await container.inspect()).State;
    const { revert, details } = await containerRestartDriver.inject(env.ctx, order(c), new AbortController().signal);
    const after = await container.inspect();
    expect(after.State.Running).toBe(true);
    expect(after.State.Pid).not.toBe(before.Pid);
    expect(after.State.StartedAt).not.toBe(before.StartedAt);
    expect(details).toMatchObject({ oldPid: before.Pid, newPid: after.State.Pid, timeoutMs: 1000 });
    const port = Number(after.NetworkSettings.Ports['80/tcp']?.[0]?.HostPort);
    await expect.poll(async () => (await httpGet(port, 1000).catch(() => ({ status: 0 }))).status, { timeout: 5000 }).toBe(200);
    expect(await env.ctx.ledger.list()).toEqual([]);
    await revert();
    expect((await container.inspect()).State.Pid).toBe(after.State.Pid);
  });

  it('refuses a stopped container and bad params', async () => {
    const c = await startTestContainer(env.docker);
    containers.push(c);
    await env.docker.getContainer(c.id).stop({ t: 0 });
    await expect(containerRestartDriver.inject(env.ctx, order(c), new AbortController().signal)).rejects.toMatchObject({ code: 'conflict' });
    expect((await env.docker.getContainer(c.id).inspect()).State.Running).toBe(false);
    await expect(containerRestartDriver.inject(env.ctx, order(c, { timeout: 'soon' }), new AbortController().signal)).rejects.toThrow(/invalid timeout/);
    await expect(containerRestartDriver.inject(env.ctx, order(c, { signal: 'SIGKILL' }), new AbortController().signal)).rejects.toThrow(/unknown params/);
  });
});
