import { describe, expect, it, vi } from 'vitest';
import { containerPauseDriver } from '../src/faults/container-pause.js';
import { AgentError } from '../src/host/errors.js';
import type { FaultOrder } from '../src/faults/types.js';
import { httpGet, type TestContainer } from './helpers/docker.js';
import { useDockerFaultSuite } from './helpers/fault-suite.js';

// Needs a real Docker engine: the container's state is read back from Docker and its HTTP port is
// asked by a client, as a user would see it.

describe('container-pause (real Docker)', { timeout: 60_000 }, () => {
  const env = useDockerFaultSuite();
  let n = 0;

  async function container(labels?: Record<string, string>): Promise<TestContainer> {
    return env.container(labels ? { labels } : {});
  }

  function order(c: TestContainer, params: unknown = {}): FaultOrder {
    n += 1;
    return { faultId: `pause-${process.pid}-${n}`, runId: 'run', type: 'container-pause', params, target: { containerId: c.id, containerName: c.name }, durationMs: 60_000 };
  }

  const state = async (c: TestContainer) => (await env.docker.getContainer(c.id).inspect()).State;

  it('pauses (Docker says paused, a client times out), unpauses at revert, and reverts again as a no-op', async () => {
    const c = await container();
    const o = order(c);
    const { revert, details } = await containerPauseDriver.inject(env.ctx, o, new AbortController().signal);
    expect(details).toMatchObject({ containerId: c.id, containerName: c.name });
    expect(await state(c)).toMatchObject({ Status: 'paused', Paused: true, Running: true });
    expect(await env.ctx.ledger.get(o.faultId)).toMatchObject({ state: 'active', type: 'container-pause', containerId: c.id });
    // The kernel still completes the TCP handshake, but the frozen httpd never answers.
    await expect(httpGet(c.hostPort, 700)).rejects.toThrow(/timeout/);

    await revert();
    expect(await state(c)).toMatchObject({ Status: 'running', Paused: false, Running: true });
    expect((await httpGet(c.hostPort)).status).toBe(200);
    expect(await env.ctx.ledger.get(o.faultId)).toBeUndefined();

    await revert();
    expect(await state(c)).toMatchObject({ Status: 'running', Paused: false });
  });

  it('recover() unpauses from the ledger entry alone (the agent crashed mid-fault), and again as a no-op', async () => {
    const c = await container();
    const o = order(c);
    await containerPauseDriver.inject(env.ctx, o, new AbortController().signal);
    const entry = await env.ctx.ledger.get(o.faultId);
    expect(entry).toBeDefined();
    await containerPauseDriver.recover(env.ctx, entry!);
    expect(await state(c)).toMatchObject({ Status: 'running', Paused: false });
    expect(await env.ctx.ledger.get(o.faultId)).toBeUndefined();
    await containerPauseDriver.recover(env.ctx, entry!);
    expect(await state(c)).toMatchObject({ Status: 'running', Paused: false });
    expect((await httpGet(c.hostPort)).status).toBe(200);
  });

  it('someone pausing it between our check and our pause: their pause stays, no ledger entry', async () => {
    const c = await container();
    const o = order(c);
    // Docker answers 409 when the container got paused just before our call; play that race for real.
    const racing = vi.spyOn(env.ctx.docker, 'pause').mockImplementation(async (id: string) => {
      await env.docker.getContainer(id).pause();
      throw new AgentError('conflict', `pausing container ${id}: Container ${id} is already paused`);
    });
    try {
      await expect(containerPauseDriver.inject(env.ctx, o, new AbortController().signal)).rejects.toMatchObject({ code: 'conflict' });
    } finally {
      racing.mockRestore();
    }
    expect(await state(c)).toMatchObject({ Paused: true });
    expect(await env.ctx.ledger.get(o.faultId)).toBeUndefined();
    await env.docker.getContainer(c.id).unpause();
  });

  it('a container removed while paused: the revert succeeds and says so', async () => {
    const c = await container();
    const o = order(c);
    const { revert } = await containerPauseDriver.inject(env.ctx, o, new AbortController().signal);
    await c.remove();
    await revert();
    expect(await env.ctx.ledger.get(o.faultId)).toBeUndefined();
  });

  it('refuses a container someone else paused, a protected one, a missing one, and params', async () => {
    const c = await container();
    await env.docker.getContainer(c.id).pause();
    await expect(containerPauseDriver.inject(env.ctx, order(c), new AbortController().signal)).rejects.toMatchObject({ code: 'conflict' });
    // Still paused: the refused fault did not take the user's pause over.
    expect(await state(c)).toMatchObject({ Paused: true });
    await env.docker.getContainer(c.id).unpause();

    const p = await container({ 'faultline.protected': 'true' });
    await expect(containerPauseDriver.inject(env.ctx, order(p), new AbortController().signal)).rejects.toThrow(/protected/);
    expect(await state(p)).toMatchObject({ Paused: false, Running: true });

    const ghost = { ...order(c), target: { containerId: 'f'.repeat(64), containerName: 'ghost' } };
    await expect(containerPauseDriver.inject(env.ctx, ghost, new AbortController().signal)).rejects.toMatchObject({ code: 'not_found' });
    await expect(containerPauseDriver.inject(env.ctx, order(c, { for: '1s' }), new AbortController().signal)).rejects.toThrow(/takes no params/);
    expect(await env.ctx.ledger.list()).toEqual([]);
  });
});
