import { describe, expect, it } from 'vitest';
import { networkBandwidthDriver } from '../src/faults/network-bandwidth.js';
import type { FaultOrder } from '../src/faults/types.js';
import { nsRunChecked } from '../src/host/netns.js';
import { qdiscHandleForFault } from '../src/host/tc.js';
import type { TestContainer } from './helpers/docker.js';
import { testOrder, useDockerFaultSuite } from './helpers/fault-suite.js';
import { dockerExec, download, qdiscsIn } from './helpers/network.js';

// Needs root and a real Docker engine: the tbf qdisc is attached in a real container's namespace
// and the rate is measured by downloading a file from the container's busybox httpd.

const FILE_KIB = 512;

describe('network-bandwidth (real Docker)', { timeout: 120_000 }, () => {
  const suite = useDockerFaultSuite();

  async function container(): Promise<TestContainer> {
    const c = await suite.container();
    const dd = await dockerExec(c.id, ['/bin/busybox', 'dd', 'if=/dev/zero', 'of=/www/big', 'bs=1024', `count=${FILE_KIB}`]);
    expect(dd.code).toBe(0);
    return c;
  }

  function order(c: TestContainer, rate: string): FaultOrder {
    return testOrder(c, 'network-bandwidth', { rate }, 'test-bw');
  }

  async function rootOf(c: TestContainer): Promise<{ kind: string; handle: string } | undefined> {
    return (await qdiscsIn(await suite.pidOf(c))).find((q) => q.root === true);
  }

  async function expectClean(c: TestContainer | null, faultId: string): Promise<void> {
    expect(await suite.ctx.ledger.get(faultId)).toBeUndefined();
    if (c) {
      const root = await rootOf(c);
      expect(root?.handle).toBe('0:');
      expect((await qdiscsIn(await suite.pidOf(c))).map((q) => q.kind)).not.toContain('tbf');
    }
  }

  it('limits what the container sends to the rate, reverts to full speed, leaves nothing, reverts again as a no-op', async () => {
    const c = await container();
    const url = `http://127.0.0.1:${c.hostPort}/big`;
    const baseline = await download(url);
    const o = order(c, '1mbit');
    const { revert, details } = await networkBandwidthDriver.inject(suite.ctx, o, new AbortController().signal);
    const handle = qdiscHandleForFault(o.faultId);
    expect(details).toMatchObject({ mechanism: 'tbf', rate: '1mbit', bitsPerSecond: 1_000_000, dev: 'eth0', qdiscHandle: handle, direction: 'egress' });
    expect(await suite.ctx.ledger.get(o.faultId)).toMatchObject({ state: 'active', mechanism: 'tbf', artifacts: { dev: 'eth0', qdiscHandle: handle } });
    expect(await rootOf(c)).toMatchObject({ kind: 'tbf', handle });

    const during = await download(url);
    const revertStart = performance.now();
    await revert();
    const revertMs = performance.now() - revertStart;
    const after = await download(url);
    const kBps = (x: { bytesPerSecond: number }) => (x.bytesPerSecond / 1000).toFixed(1);
    console.info(`bandwidth 1mbit (125 kB/s): ${FILE_KIB} KiB at baseline ${kBps(baseline)} kB/s, during ${kBps(during)} kB/s (${during.seconds.toFixed(2)} s), after ${kBps(after)} kB/s; revert took ${revertMs.toFixed(0)} ms`);
    expect(during.bytes).toBe(FILE_KIB * 1024);
    // 1mbit = 125 000 B/s on the wire; TCP/IP and Ethernet headers take about 4.4 % of each full
    // frame (1448 of 1514 bytes are payload), the 4 KiB bucket and the handshake are negligible
    // for 512 KiB: expect about 119 kB/s. ±25 % of the nominal rate leaves room for a loaded machine
    // without accepting a rate that is off by a factor.
    expect(during.bytesPerSecond).toBeGreaterThanOrEqual(125_000 * 0.75);
    expect(during.bytesPerSecond).toBeLessThanOrEqual(125_000 * 1.25);
    expect(baseline.bytesPerSecond).toBeGreaterThan(10 * 125_000);
    expect(after.bytesPerSecond).toBeGreaterThan(10 * 125_000);
    await expectClean(c, o.faultId);
    await revert();
    await expectClean(c, o.faultId);
  });

  it('refuses a device with a foreign root qdisc, naming it, and leaves it alone', async () => {
    const c = await container();
    const pid = await suite.pidOf(c);
    await nsRunChecked(pid, 'tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'htb']);
    const o = order(c, '1mbit');
    await expect(networkBandwidthDriver.inject(suite.ctx, o, new AbortController().signal)).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(new RegExp(`container ${c.name}: device eth0 already has a root qdisc "htb 1:"`)) as unknown,
    });
    expect(await suite.ctx.ledger.get(o.faultId)).toBeUndefined();
    expect(await rootOf(c)).toMatchObject({ kind: 'htb', handle: '1:' });
  });

  it('a foreign root qdisc that happens to carry our derived handle is refused and left alone', async () => {
    const c = await container();
    const o = order(c, '1mbit');
    // Handles are derived from fault ids (16 bits): play the clash by hand.
    await nsRunChecked(await suite.pidOf(c), 'tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'handle', qdiscHandleForFault(o.faultId), 'htb']);
    await expect(networkBandwidthDriver.inject(suite.ctx, o, new AbortController().signal)).rejects.toMatchObject({ code: 'conflict' });
    expect(await suite.ctx.ledger.get(o.faultId)).toBeUndefined();
    expect(await rootOf(c)).toMatchObject({ kind: 'htb', handle: qdiscHandleForFault(o.faultId) });
  });

  it('a second bandwidth fault on the same container is refused; the first stays and reverts', async () => {
    const c = await container();
    const first = order(c, '2mbit');
    const { revert } = await networkBandwidthDriver.inject(suite.ctx, first, new AbortController().signal);
    const second = order(c, '1mbit');
    await expect(networkBandwidthDriver.inject(suite.ctx, second, new AbortController().signal)).rejects.toMatchObject({ code: 'conflict' });
    expect(await suite.ctx.ledger.get(second.faultId)).toBeUndefined();
    expect(await rootOf(c)).toMatchObject({ kind: 'tbf', handle: qdiscHandleForFault(first.faultId) });
    await revert();
    await expectClean(c, first.faultId);
  });

  it('revert deletes only a root qdisc with its own handle: someone’s replacement stays', async () => {
    const c = await container();
    const o = order(c, '1mbit');
    const { revert } = await networkBandwidthDriver.inject(suite.ctx, o, new AbortController().signal);
    await nsRunChecked(await suite.pidOf(c), 'tc', ['qdisc', 'replace', 'dev', 'eth0', 'root', 'handle', '2:', 'htb']);
    await revert();
    expect(await suite.ctx.ledger.get(o.faultId)).toBeUndefined();
    expect(await rootOf(c)).toMatchObject({ kind: 'htb', handle: '2:' });
  });

  it('recovers from the ledger after a crash, also when the container restarted or was removed', async () => {
    const c = await container();
    const o = order(c, '1mbit');
    await networkBandwidthDriver.inject(suite.ctx, o, new AbortController().signal); // the revert is dropped
    expect(await rootOf(c)).toMatchObject({ kind: 'tbf' });
    await networkBandwidthDriver.recover(suite.ctx, (await suite.ctx.ledger.get(o.faultId))!);
    await expectClean(c, o.faultId);

    const o2 = order(c, '1mbit');
    await networkBandwidthDriver.inject(suite.ctx, o2, new AbortController().signal);
    const oldPid = await suite.pidOf(c);
    await suite.docker.getContainer(c.id).restart({ t: 0 });
    expect(await suite.pidOf(c)).not.toBe(oldPid);
    await networkBandwidthDriver.recover(suite.ctx, (await suite.ctx.ledger.get(o2.faultId))!);
    await expectClean(c, o2.faultId);

    const o3 = order(c, '1mbit');
    await networkBandwidthDriver.inject(suite.ctx, o3, new AbortController().signal);
    await c.remove();
    await networkBandwidthDriver.recover(suite.ctx, (await suite.ctx.ledger.get(o3.faultId))!);
    await expectClean(null, o3.faultId);
  });
});
