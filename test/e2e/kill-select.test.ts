/** container-kill with select count 1 across three labelled containers. */
import { describe, expect, it } from 'vitest';
import { startWebContainer } from './fixtures/docker.js';
import { experimentYaml } from './fixtures/experiments.js';
import { startAgent, startController, startRun, waitForRunEnd } from './fixtures/faultline.js';

describe('container-kill with select (real Docker)', () => {
  it('kills exactly one of three labelled containers with SIGKILL and the journal names it', async () => {
    const label = `kill-${Date.now()}`;
    await using a = await startWebContainer({ labels: { e2e: label } });
    await using b = await startWebContainer({ labels: { e2e: label } });
    await using c = await startWebContainer({ labels: { e2e: label } });
    await using protectedOne = await startWebContainer({ labels: { e2e: label, 'faultline.protected': 'true' } });
    await using controller = await startController();
    await using agent = await startAgent(controller);
    const yaml = experimentYaml('kill-e2e', label, `    - fault: container-kill
      target: web
      params: {signal: SIGKILL}
`, { target: '      select: {mode: count, value: 1}\n' });
    const journal = await waitForRunEnd(controller, await startRun(controller, 'kill-e2e', yaml));
    expect(journal.status).toBe('completed');
    expect(journal.faults).toHaveLength(1);
    const fault = journal.faults[0]!;
    expect(fault.agent).toBe(agent.name);
    const states = await Promise.all([a, b, c].map(async (container) => ({ container, state: await container.state() })));
    const killed = states.filter(({ state }) => !state.running);
    expect(killed).toHaveLength(1);
    expect(killed[0]!.state.exitCode).toBe(137);
    expect(killed[0]!.container.id.startsWith(fault.containerId) || fault.containerId.startsWith(killed[0]!.container.id)).toBe(true);
    expect(fault.containerName).toBe(killed[0]!.container.name);
    expect((await protectedOne.state()).running).toBe(true);
    expect(journal.plan?.web?.map((target) => target.containerName)).toEqual([killed[0]!.container.name]);
  });

  it('a selection that matches nothing fails the run before any fault', async () => {
    await using controller = await startController();
    await using _agent = await startAgent(controller);
    const yaml = experimentYaml('none-e2e', `no-such-label-${Date.now()}`, `    - fault: container-kill
      target: web
`);
    const journal = await waitForRunEnd(controller, await startRun(controller, 'none-e2e', yaml));
    expect(journal.status).toBe('failed');
    expect(journal.reason).toMatch(/no running container matches/);
    expect(journal.faults).toEqual([]);
  });
});
