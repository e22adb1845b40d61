import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { networkBlackholeDriver } from '../src/faults/network-blackhole.js';
import type { FaultOrder } from '../src/faults/types.js';
import { chainNameForFault } from '../src/host/iptables.js';
import { httpGet, iptablesSaveIn, TEST_IMAGE, TEST_LABEL, type TestContainer } from './helpers/docker.js';
import { testOrder, useDockerFaultSuite } from './helpers/fault-suite.js';
import { connectsFrom, connectStats, containerIp, dockerExec, hostIptablesSave } from './helpers/network.js';

// Needs root and a real Docker engine. The blackhole is observed from outside: from the host (TCP
// connects to the container's address time out) and from a second container on the same bridge
// (busybox nc), in both directions.

describe('network-blackhole (real Docker)', { timeout: 120_000 }, () => {
  const suite = useDockerFaultSuite();

  async function container(): Promise<TestContainer & { ip: string }> {
    const c = await suite.container();
    return { ...c, ip: await containerIp(suite.docker, c.id) };
  }

  function order(c: TestContainer, params: Record<string, unknown>): FaultOrder {
    return testOrder(c, 'network-blackhole', params, 'test-bh');
  }

  const expectClean = (c: TestContainer | null, faultId: string): Promise<void> => suite.expectNoFilterRules(c, faultId);

  it('drops everything in and out by default (loopback aside), reverts, leaves nothing, reverts again as a no-op', async () => {
    const [c, peer] = await Promise.all([container(), container()]);
    expect(await connectsFrom(c.id, peer.ip, 80)).toBe(true);
    const o = order(c, {});
    const { revert, details } = await networkBlackholeDriver.inject(suite.ctx, o, new AbortController().signal);
    const chains = [chainNameForFault(o.faultId, 'in'), chainNameForFault(o.faultId, 'out')];
    expect(details).toMatchObject({ mechanism: 'iptables', direction: 'both', ports: 'all', cidrs: 'all', chains });
    expect(await suite.ctx.ledger.get(o.faultId)).toMatchObject({ state: 'active', artifacts: { chains, table: 'filter' } });
    const saved = await iptablesSaveIn(await suite.pidOf(c));
    expect(saved).toContain(`-A INPUT ! -i lo -m comment --comment "faultline:${o.faultId}" -j ${chains[0]}`);
    expect(saved).toContain(`-A OUTPUT ! -o lo -m comment --comment "faultline:${o.faultId}" -j ${chains[1]}`);
    // Never the host's own namespace.
    const host = await hostIptablesSave();
    expect(host).not.toContain(o.faultId);
    for (const chain of chains) expect(host).not.toContain(chain);

    const inbound = await connectStats(c.ip, 81, 10);
    const published = await httpGet(c.hostPort, 1_500).then(() => 'answered', (error: Error) => error.message);
    const outbound = await connectsFrom(c.id, peer.ip, 80);
    const fromPeer = await connectsFrom(peer.id, c.ip, 80);
    const loopback = (await dockerExec(c.id, ['/bin/busybox', 'nc', '-w', '1', '127.0.0.1', '80'])).code;
    const revertStart = performance.now();
    await revert();
    const revertMs = performance.now() - revertStart;
    console.info(`blackhole (all): host->container ${inbound.timeouts}/10 timed out; published port: ${published}; revert took ${revertMs.toFixed(0)} ms`);
    expect(inbound.timeouts).toBe(10);
    expect(published).toMatch(/timeout/);
    expect(outbound).toBe(false);
    expect(fromPeer).toBe(false);
    expect(loopback).toBe(0);

    await expectClean(c, o.faultId);
    expect((await connectStats(c.ip, 81, 10)).failed).toBe(0);
    expect((await httpGet(c.hostPort, 2_000)).status).toBe(200);
    expect(await connectsFrom(c.id, peer.ip, 80)).toBe(true);
    await revert();
    await expectClean(c, o.faultId);
  });

  it('with ports: only connections to those ports, both ways; other ports keep working', async () => {
    const [c, peer] = await Promise.all([container(), container()]);
    for (const x of [c, peer]) expect((await dockerExec(x.id, ['/bin/busybox', 'httpd', '-p', '8080', '-h', '/www'])).code).toBe(0);
    const o = order(c, { ports: [80] });
    const { revert } = await networkBlackholeDriver.inject(suite.ctx, o, new AbortController().signal);
    expect(await connectsFrom(peer.id, c.ip, 80)).toBe(false); // to its service
    expect(await connectsFrom(c.id, peer.ip, 80)).toBe(false); // its own connections to port 80 elsewhere
    expect(await connectsFrom(peer.id, c.ip, 8080)).toBe(true);
    expect(await connectsFrom(c.id, peer.ip, 8080)).toBe(true);
    expect((await connectStats(c.ip, 81, 10)).failed).toBe(0);
    await revert();
    await expectClean(c, o.faultId);
    expect(await connectsFrom(peer.id, c.ip, 80)).toBe(true);
  });

  it('with cidrs: only those peers are cut off; the others keep working', async () => {
    const [c, peer] = await Promise.all([container(), container()]);
    const o = order(c, { cidrs: [`${peer.ip}/32`] });
    const { revert, details } = await networkBlackholeDriver.inject(suite.ctx, o, new AbortController().signal);
    expect(details).toMatchObject({ cidrs: [`${peer.ip}/32`] });
    expect(await connectsFrom(peer.id, c.ip, 80)).toBe(false);
    expect(await connectsFrom(c.id, peer.ip, 80)).toBe(false);
    // The host reaches the container from the bridge's gateway address, which is not listed.
    expect((await connectStats(c.ip, 81, 10)).failed).toBe(0);
    expect((await httpGet(c.hostPort, 2_000)).status).toBe(200);
    await revert();
    await expectClean(c, o.faultId);
    expect(await connectsFrom(peer.id, c.ip, 80)).toBe(true);
  });

  it('refuses a host-network container and touches nothing', async () => {
    const created = await suite.docker.createContainer({
      Image: TEST_IMAGE,
      name: `faultline-test-hostnet-${randomBytes(4).toString('hex')}`,
      Cmd: ['/bin/sleep', '60'],
      Labels: { [TEST_LABEL]: 'true' },
      HostConfig: { NetworkMode: 'host' },
    });
    const info = { id: created.id, name: 'hostnet', hostPort: 0, remove: () => created.remove({ force: true }).then(() => undefined, () => undefined) };
    suite.adopt(info);
    await created.start();
    const before = await hostIptablesSave();
    const o = order(info, {});
    await expect(networkBlackholeDriver.inject(suite.ctx, o, new AbortController().signal)).rejects.toMatchObject({ code: 'unsupported' });
    await expectClean(null, o.faultId);
    expect(await hostIptablesSave()).not.toContain(o.faultId);
    expect(before).not.toContain(o.faultId);
  });

  it('recovers from the ledger after a crash, also when the container restarted or was removed', async () => {
    const c = await container();
    const o = order(c, {});
    await networkBlackholeDriver.inject(suite.ctx, o, new AbortController().signal); // the revert is dropped
    expect((await connectStats(c.ip, 81, 5)).timeouts).toBe(5);
    await networkBlackholeDriver.recover(suite.ctx, (await suite.ctx.ledger.get(o.faultId))!);
    await expectClean(c, o.faultId);
    expect((await connectStats(c.ip, 81, 5)).failed).toBe(0);

    const o2 = order(c, { ports: [80] });
    await networkBlackholeDriver.inject(suite.ctx, o2, new AbortController().signal);
    const oldPid = await suite.pidOf(c);
    await suite.docker.getContainer(c.id).restart({ t: 0 });
    expect(await suite.pidOf(c)).not.toBe(oldPid);
    await networkBlackholeDriver.recover(suite.ctx, (await suite.ctx.ledger.get(o2.faultId))!);
    await expectClean(c, o2.faultId);

    const o3 = order(c, {});
    await networkBlackholeDriver.inject(suite.ctx, o3, new AbortController().signal);
    await c.remove();
    await networkBlackholeDriver.recover(suite.ctx, (await suite.ctx.ledger.get(o3.faultId))!);
    await expectClean(null, o3.faultId);
  });
});
