import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { containerKillDriver } from '../src/faults/container-kill.js';
import { makeContext } from './helpers/context.js';
import { ensureTestImage, startTestContainer, type TestContainer } from './helpers/docker.js';

// Needs a real Docker engine.

describe('container-kill (real Docker)', { timeout: 60_000 }, () => {
  const env = makeContext({ latencyProxyScript: '/nonexistent' });
  const containers: TestContainer[] = [];

  beforeAll(async () => {
    await ensureTestImage();
  }, 120_000);

  afterAll(() => env.dispose());

  afterEach(async () => {
    for (const c of containers.splice(0)) await c.remove();
  });

  it('SIGKILL leaves the container exited with code 137, and Docker reports the die event', async () => {
    const c = await startTestContainer(env.docker);
    containers.push(c);
    const stopEvents = new AbortController();
    const events = env.ctx.docker.events({ actions: ['die'], signal: stopEvents.signal });
    const died = (async () => {
      for await (const event of events) if (event.id === c.id) return event;
      return undefined;
    })();
    // Let the event subscription reach the engine before the kill.
    await new Promise((r) => setTimeout(r, 200));
    const { revert, details } = await containerKillDriver.inject(
      env.ctx,
      { faultId: 'kill-1', runId: 'run', type: 'container-kill', params: {}, target: { containerId: c.id, containerName: c.name }, durationMs: null },
      new AbortController().signal,
    );
    expect(details).toMatchObject({ signal: 'SIGKILL', containerId: c.id });
    const container = env.docker.getContainer(c.id);
    await container.wait({ condition: 'not-running' });
    const state = (await container.inspect()).State;
    expect(state.Status).toBe('exited');
    expect(state.ExitCode).toBe(137);
    const event = await Promise.race([died, new Promise((r) => setTimeout(() => r('no event'), 5_000))]);
    stopEvents.abort();
    expect(event).toMatchObject({ action: 'die', id: c.id, name: c.name, exitCode: 137 });
    await revert(); // instant fault: nothing to revert
  });

  it('refuses protected and Faultline containers, and reports a missing one', async () => {
    const c = await startTestContainer(env.docker, { labels: { 'faultline.role': 'controller' } });
    containers.push(c);
    const target = { containerId: c.id, containerName: c.name };
    await expect(
      containerKillDriver.inject(env.ctx, { faultId: 'kill-2', runId: 'run', type: 'container-kill', params: { signal: 'SIGKILL' }, target, durationMs: null }, new AbortController().signal),
    ).rejects.toThrow(/protected/);
    expect((await env.docker.getContainer(c.id).inspect()).State.Running).toBe(true);
    await expect(
      containerKillDriver.inject(
        env.ctx,
        { faultId: 'kill-3', runId: 'run', type: 'container-kill', params: {}, target: { containerId: 'f'.repeat(64), containerName: 'ghost' }, durationMs: null },
        new AbortController().signal,
      ),
    ).rejects.toMatchObject({ code: 'not_found' });
  });

  it('rejects a bad signal name', async () => {
    await expect(
      containerKillDriver.inject(
        env.ctx,
        { faultId: 'kill-4', runId: 'run', type: 'container-kill', params: { signal: 'KILL; reboot' }, target: { containerId: 'x', containerName: 'x' }, durationMs: null },
        new AbortController().signal,
      ),
    ).rejects.toThrow(/invalid signal/);
  });
});
