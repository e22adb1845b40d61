import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chainNameForFault, createRedirectChain, faultComment, listOwnedChains, removeChain } from '../src/host/iptables.js';
import { nsRunChecked } from '../src/host/netns.js';
import { makeContext } from './helpers/context.js';
import { ensureTestImage, iptablesSaveIn, startTestContainer, type TestContainer } from './helpers/docker.js';

// Needs root and a real Docker engine: rules are made in a real container's network namespace.

/** iptables-save without the comment lines and counters, which change between two saves. */
function rules(saved: string): string[] {
  return saved
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]/g, '[]'));
}

describe('iptables adapter in a container namespace (real Docker)', { timeout: 60_000 }, () => {
  const env = makeContext({ latencyProxyScript: '/nonexistent' });
  const containers: TestContainer[] = [];
  let c: TestContainer;
  let pid: number;

  beforeAll(async () => {
    await ensureTestImage();
  }, 120_000);

  afterAll(() => env.dispose());

  afterEach(async () => {
    for (const container of containers.splice(0)) await container.remove();
  });

  async function setUp(): Promise<void> {
    c = await startTestContainer(env.docker);
    containers.push(c);
    pid = (await env.ctx.docker.inspect(c.id)).pid;
  }

  it('creates a redirect chain and removes exactly it, never a user’s rules or chains', async () => {
    await setUp();
    // A user's own nat rules, including one in a chain that looks a bit like ours.
    await nsRunChecked(pid, 'iptables', ['-t', 'nat', '-N', 'FL-USER']);
    await nsRunChecked(pid, 'iptables', ['-t', 'nat', '-A', 'FL-USER', '-p', 'tcp', '--dport', '9999', '-j', 'REDIRECT', '--to-ports', '9998']);
    await nsRunChecked(pid, 'iptables', ['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', '9999', '-j', 'FL-USER']);
    await nsRunChecked(pid, 'iptables', ['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '-m', 'comment', '--comment', 'user rule with spaces', '--dport', '7', '-j', 'RETURN']);
    const before = rules(await iptablesSaveIn(pid));

    const faultId = 'run-9:step-1:web';
    const chain = chainNameForFault(faultId);
    await createRedirectChain(pid, chain, [{ port: 80, toPort: 40001 }, { port: 8080, toPort: 40002 }], faultComment(faultId));
    const during = await iptablesSaveIn(pid);
    expect(during).toContain(`-A PREROUTING -p tcp -m comment --comment "faultline:${faultId}" -j ${chain}`);
    expect(during).toContain(`-A ${chain} -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 40001`);
    expect(await listOwnedChains(pid)).toEqual([chain]);
    await expect(createRedirectChain(pid, chain, [{ port: 80, toPort: 40001 }], faultComment(faultId))).rejects.toMatchObject({ code: 'conflict' });

    // A second jump to our chain (say, a retried insert) goes too.
    await nsRunChecked(pid, 'iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-j', chain]);
    await removeChain(pid, chain);
    expect(rules(await iptablesSaveIn(pid))).toEqual(before);
    expect(await listOwnedChains(pid)).toEqual([]);

    await removeChain(pid, chain); // idempotent
    expect(rules(await iptablesSaveIn(pid))).toEqual(before);
  });

  it('refuses to touch a chain that is not Faultline’s', async () => {
    await setUp();
    await expect(removeChain(pid, 'FL-USER')).rejects.toThrow(/not a Faultline chain/);
    await expect(removeChain(pid, 'PREROUTING')).rejects.toThrow(/not a Faultline chain/);
  });

  it('lists, inspects and filters real containers', async () => {
    await setUp();
    const list = await env.ctx.docker.listContainers();
    const mine = list.find((x) => x.id === c.id);
    expect(mine).toMatchObject({ name: c.name, state: 'running', labels: { 'faultline.test': 'true' } });
    const details = await env.ctx.docker.inspect(c.id);
    expect(details).toMatchObject({ id: c.id, name: c.name, running: true, exposedTcpPorts: [80], restartCount: 0, networkMode: 'default' });
    expect(details.pid).toBeGreaterThan(1);
    expect(env.ctx.docker.selfContainerIds()).toEqual([]);
    expect(env.ctx.docker.filterCandidates(list, { names: [c.name], labels: { 'faultline.test': 'true' } }).map((x) => x.id)).toEqual([c.id]);
    expect(await env.ctx.docker.pidBelongsTo(details.pid, c.id)).toBe(true);
    expect(await env.ctx.docker.pidBelongsTo(process.pid, c.id)).toBe(false);
    await expect(env.ctx.docker.inspect('f'.repeat(64))).rejects.toMatchObject({ code: 'not_found' });
  });
});
