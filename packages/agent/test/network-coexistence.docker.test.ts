import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { networkBandwidthDriver } from '../src/faults/network-bandwidth.js';
import { networkBlackholeDriver } from '../src/faults/network-blackhole.js';
import { networkLatencyDriver } from '../src/faults/network-latency.js';
import { networkLossDriver } from '../src/faults/network-loss.js';
import type { FaultDriver, FaultOrder, InjectResult } from '../src/faults/types.js';
import { chainNameForFault } from '../src/host/iptables.js';
import { iptablesSaveIn, medianLatency, type TestContainer } from './helpers/docker.js';
import { testOrder, useDockerFaultSuite } from './helpers/fault-suite.js';
import { connectStats, containerIp, dockerExec, download, qdiscsIn } from './helpers/network.js';

// Needs root and a real Docker engine. Several network faults on one container at once: each lives
// in its own chain (or qdisc), keeps its effect while the others come and go, and reverts alone.

const LATENCY_MS = 150;

describe('network faults on one container coexist and revert independently (real Docker)', { timeout: 120_000 }, () => {
  const suite = useDockerFaultSuite({ proxy: true });

  async function inject(driver: FaultDriver, c: TestContainer, params: Record<string, unknown>, faultId = `test-mix-${randomBytes(6).toString('hex')}`): Promise<InjectResult & { faultId: string }> {
    const o: FaultOrder = { ...testOrder(c, driver.type, params, 'test-mix'), faultId };
    suite.track(o.faultId);
    return { ...(await driver.inject(suite.ctx, o, new AbortController().signal)), faultId: o.faultId };
  }

  it('latency + loss + blackhole + bandwidth', async () => {
    const c = await suite.container();
    const ip = await containerIp(suite.docker, c.id);
    const pid = await suite.pidOf(c);
    expect((await dockerExec(c.id, ['/bin/busybox', 'dd', 'if=/dev/zero', 'of=/www/big', 'bs=1024', 'count=256'])).code).toBe(0);
    const baseline = await medianLatency(c.hostPort, 11);
    const timeouts = async (port: number): Promise<number> => (await connectStats(ip, port, 5)).timeouts;

    // latency (nat chain, proxy) and loss on the same port: the loss still matches port 80 although
    // the latency's REDIRECT changed the destination port (it matches the connection's original port).
    const latency = await inject(networkLatencyDriver, c, { latencyMs: LATENCY_MS, jitterMs: 0, mechanism: 'proxy', ports: [80] });
    const loss = await inject(networkLossDriver, c, { percent: 100, ports: [80, 8080] });
    expect(await timeouts(80)).toBe(5);
    expect(await timeouts(8080)).toBe(5);
    expect(await timeouts(81)).toBe(0);
    const saved = await iptablesSaveIn(pid);
    expect(saved).toContain(`:${chainNameForFault(latency.faultId)} `);
    expect(saved).toContain(`:${chainNameForFault(loss.faultId)} `);

    // blackhole on 81 joins; the loss goes: 80 answers again (through the still active latency proxy).
    const blackhole = await inject(networkBlackholeDriver, c, { ports: [81] });
    expect(await timeouts(81)).toBe(5);
    await loss.revert();
    expect(await timeouts(80)).toBe(0);
    expect(await timeouts(8080)).toBe(0);
    expect(await timeouts(81)).toBe(5);
    const withLatency = await medianLatency(c.hostPort, 11);
    expect(withLatency.median - baseline.median).toBeGreaterThanOrEqual(LATENCY_MS * 0.9);

    // bandwidth joins (tbf root qdisc); the latency goes.
    const bandwidth = await inject(networkBandwidthDriver, c, { rate: '1mbit' });
    await latency.revert();
    expect((await medianLatency(c.hostPort, 11)).median).toBeLessThan(baseline.median + LATENCY_MS / 3);
    expect(await timeouts(81)).toBe(5);
    const limited = await download(`http://127.0.0.1:${c.hostPort}/big`);
    expect(limited.bytesPerSecond).toBeGreaterThanOrEqual(125_000 * 0.75);
    expect(limited.bytesPerSecond).toBeLessThanOrEqual(125_000 * 1.25);

    // blackhole goes: the bandwidth limit stays.
    await blackhole.revert();
    expect(await timeouts(81)).toBe(0);
    expect((await qdiscsIn(pid)).find((q) => q.root === true)?.kind).toBe('tbf');
    await bandwidth.revert();
    const free = await download(`http://127.0.0.1:${c.hostPort}/big`);
    console.info(
      `coexistence: baseline ${baseline.median.toFixed(1)} ms, with latency ${withLatency.median.toFixed(1)} ms; 256 KiB at ${(limited.bytesPerSecond / 1000).toFixed(1)} kB/s limited, ${(free.bytesPerSecond / 1000).toFixed(1)} kB/s after`,
    );
    expect(free.bytesPerSecond).toBeGreaterThan(10 * 125_000);

    const after = await iptablesSaveIn(pid);
    expect(after).not.toMatch(/FL-[0-9a-f]{12}/);
    expect(after).not.toContain('faultline:');
    expect((await qdiscsIn(pid)).find((q) => q.root === true)?.handle).toBe('0:');
    expect(await suite.ctx.ledger.list()).toEqual([]);
  });

  it('each applies again in a restarted container (same fault id, new namespace), as the fault manager does', async () => {
    const c = await suite.container();
    const faults = [
      await inject(networkLossDriver, c, { percent: 100, ports: [81] }),
      await inject(networkBlackholeDriver, c, { ports: [8080] }),
      await inject(networkBandwidthDriver, c, { rate: '1mbit' }),
    ];
    const oldPid = await suite.pidOf(c);
    await suite.docker.getContainer(c.id).restart({ t: 0 });
    const pid = await suite.pidOf(c);
    expect(pid).not.toBe(oldPid);
    const ip = await containerIp(suite.docker, c.id);
    expect((await connectStats(ip, 81, 5)).failed).toBe(0); // the old namespace went with its rules

    // The manager's reapply: the old revert (nothing left to remove), then inject with the same id.
    const again: InjectResult[] = [];
    const drivers = [networkLossDriver, networkBlackholeDriver, networkBandwidthDriver];
    const params = [{ percent: 100, ports: [81] }, { ports: [8080] }, { rate: '1mbit' }];
    for (const [i, fault] of faults.entries()) {
      await fault.revert();
      expect(await suite.ctx.ledger.get(fault.faultId)).toBeUndefined();
      again.push(await inject(drivers[i]!, c, params[i]!, fault.faultId));
      expect(await suite.ctx.ledger.get(fault.faultId)).toMatchObject({ pid, state: 'active' });
    }
    expect((await connectStats(ip, 81, 5)).timeouts).toBe(5);
    expect((await connectStats(ip, 8080, 5)).timeouts).toBe(5);
    expect((await qdiscsIn(pid)).find((q) => q.root === true)?.kind).toBe('tbf');

    for (const fault of again) await fault.revert();
    expect(await iptablesSaveIn(pid)).not.toMatch(/FL-[0-9a-f]{12}/);
    expect((await qdiscsIn(pid)).find((q) => q.root === true)?.handle).toBe('0:');
    expect((await connectStats(ip, 81, 5)).failed).toBe(0);
    expect(await suite.ctx.ledger.list()).toEqual([]);
  });
});
