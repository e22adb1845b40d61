import { describe, expect, it } from 'vitest';
import { containerRestartDriver } from '../src/faults/container-restart.js';
import type { FaultOrder } from '../src/faults/types.js';
import { httpGet, type TestContainer } from './helpers/docker.js';
import { useDockerFaultSuite } from './helpers/fault-suite.js';

// Needs a real Docker engine.

describe('container-restart (real Docker)', { timeout: 60_000 }, () => {
  const env = useDockerFaultSuite();
  let n = 0;

  function order(c: TestContainer, params: unknown = { timeoutMs: 1000 }): FaultOrder {
    n += 1;
    return { faultId: `restart-${process.pid}-${n}`, runId: 'run', type: 'container-restart', params, target: { containerId: c.id, containerName: c.name }, durationMs: null };
  }

  it('restarts the container: new process, new start time, answering again; nothing to revert', async () => {
    const c = await env.container();
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
    const c = await env.container();
    await env.docker.getContainer(c.id).stop({ t: 0 });
    await expect(containerRestartDriver.inject(env.ctx, order(c), new AbortController().signal)).rejects.toMatchObject({ code: 'conflict' });
    expect((await env.docker.getContainer(c.id).inspect()).State.Running).toBe(false);
    await expect(containerRestartDriver.inject(env.ctx, order(c, { timeout: 'soon' }), new AbortController().signal)).rejects.toThrow(/invalid timeout/);
    await expect(containerRestartDriver.inject(env.ctx, order(c, { signal: 'SIGKILL' }), new AbortController().signal)).rejects.toThrow(/unknown params/);
  });
});
