import { describe, expect, it } from 'vitest';
import { networkLossDriver } from '../src/faults/network-loss.js';
import type { FaultOrder } from '../src/faults/types.js';
import { chainNameForFault } from '../src/host/iptables.js';
import { nsRunChecked } from '../src/host/netns.js';
import { httpGet, iptablesSaveIn, type TestContainer } from './helpers/docker.js';
import { testOrder, useDockerFaultSuite } from './helpers/fault-suite.js';
import { connectStats, containerIp, dockerExec, hostIptablesSave } from './helpers/network.js';

// Needs root and a real Docker engine: the rules live in a real container's network namespace and
// the loss is measured from the host as the failure rate of TCP connects to the container's address
// (not the published port: Docker's userland proxy would accept every connect itself), on ports
// without a listener (81, 8080), which the container's kernel answers with a RST when the SYN
// arrives: so only the network decides, not busybox httpd's accept queue of 9.

describe('network-loss (real Docker)', { timeout: 120_000 }, () => {
  const suite = useDockerFaultSuite();

  async function container(): Promise<TestContainer & { ip: string }> {
    const c = await suite.container();
    return { ...c, ip: await containerIp(suite.docker, c.id) };
  }

  function order(c: TestContainer, params: Record<string, unknown>): FaultOrder {
    return testOrder(c, 'network-loss', params, 'test-loss');
  }

  const expectClean = (c: TestContainer | null, faultId: string): Promise<void> => suite.expectNoFilterRules(c, faultId);

  it('drops the requested share of connection attempts, reverts to baseline, leaves nothing, and reverts again as a no-op', async () => {
    const c = await container();
    const baseline = await connectStats(c.ip, 81, 100);
    const o = order(c, { percent: 50 });
    const { revert, details } = await networkLossDriver.inject(suite.ctx, o, new AbortController().signal);
    const chain = chainNameForFault(o.faultId);
    expect(details).toMatchObject({ mechanism: 'iptables', percent: 50, ports: 'all', chains: [chain], direction: 'ingress' });
    expect(await suite.ctx.ledger.get(o.faultId)).toMatchObject({ state: 'active', mechanism: 'iptables', artifacts: { chain, chains: [chain], table: 'filter' } });
    const saved = await iptablesSaveIn(await suite.pidOf(c));
    expect(saved).toContain(`-A INPUT ! -i lo -m comment --comment "faultline:${o.faultId}" -j ${chain}`);
    // The host's own namespace is never touched.
    expect(await hostIptablesSave()).not.toContain(o.faultId);

    // A dropped SYN is retransmitted only after 1 s, so with a 600 ms timeout each attempt fails with
    // probability 0.5. 200 attempts: sd = sqrt(0.25/200) = 3.5 %, so 35-65 % is ±4.2 sd
    // (a false failure about once in 40 000 runs).
    const during = await connectStats(c.ip, 81, 200);
    const revertStart = performance.now();
    await revert();
    const revertMs = performance.now() - revertStart;
    const after = await connectStats(c.ip, 81, 100);
    console.info(
      `loss 50%: baseline ${baseline.failed}/${baseline.attempts} failed, during ${during.failed}/${during.attempts} (${(during.failureRate * 100).toFixed(1)}%, ${during.timeouts} timeouts), after ${after.failed}/${after.attempts}; revert took ${revertMs.toFixed(0)} ms`,
    );
    expect(baseline.failed).toBeLessThanOrEqual(1);
    expect(during.failureRate).toBeGreaterThanOrEqual(0.35);
    expect(during.failureRate).toBeLessThanOrEqual(0.65);
    expect(during.timeouts).toBe(during.failed);
    expect(after.failed).toBeLessThanOrEqual(1);
    await expectClean(c, o.faultId);

    await revert();
    await expectClean(c, o.faultId);
  });

  it('only the listed ports lose packets; without ports every arriving packet but loopback', async () => {
    const c = await container();
    const portOnly = order(c, { percent: 100, ports: [8080] });
    const first = await networkLossDriver.inject(suite.ctx, portOnly, new AbortController().signal);
    expect((await connectStats(c.ip, 8080, 10)).timeouts).toBe(10);
    expect((await connectStats(c.ip, 81, 10)).failed).toBe(0);
    expect((await httpGet(c.hostPort, 2_000)).status).toBe(200);
    await first.revert();
    await expectClean(c, portOnly.faultId);

    const all = order(c, { percent: 100 });
    const second = await networkLossDriver.inject(suite.ctx, all, new AbortController().signal);
    expect((await connectStats(c.ip, 81, 10)).timeouts).toBe(10);
    expect((await connectStats(c.ip, 8080, 10)).timeouts).toBe(10);
    await expect(httpGet(c.hostPort, 1_500)).rejects.toThrow(/timeout/);
    // The container still reaches itself over loopback.
    expect((await dockerExec(c.id, ['/bin/busybox', 'nc', '-w', '1', '127.0.0.1', '80'])).code).toBe(0);
    await second.revert();
    await expectClean(c, all.faultId);
    expect((await connectStats(c.ip, 81, 10)).failed).toBe(0);
    expect((await httpGet(c.hostPort, 2_000)).status).toBe(200);
  });

  it('recovers from the ledger after an agent crash (in-memory revert lost)', async () => {
    const c = await container();
    const o = order(c, { percent: 100, ports: [81] });
    await networkLossDriver.inject(suite.ctx, o, new AbortController().signal); // the revert is dropped
    expect((await connectStats(c.ip, 81, 5)).timeouts).toBe(5);
    const entry = (await suite.ctx.ledger.list()).find((e) => e.faultId === o.faultId);
    expect(entry).toBeDefined();
    await networkLossDriver.recover(suite.ctx, entry!);
    await expectClean(c, o.faultId);
    expect((await connectStats(c.ip, 81, 10)).failed).toBe(0);
    // Replaying the same entry again (a crash between revert and ledger removal) is a no-op.
    await networkLossDriver.recover(suite.ctx, entry!);
    await expectClean(c, o.faultId);
  });

  it('recovers when the container was restarted (new namespace) or removed meanwhile', async () => {
    const c = await container();
    const o = order(c, { percent: 100 });
    await networkLossDriver.inject(suite.ctx, o, new AbortController().signal);
    const oldPid = await suite.pidOf(c);
    await suite.docker.getContainer(c.id).restart({ t: 0 });
    expect(await suite.pidOf(c)).not.toBe(oldPid);
    await networkLossDriver.recover(suite.ctx, (await suite.ctx.ledger.get(o.faultId))!);
    await expectClean(c, o.faultId);

    const o2 = order(c, { percent: 100 });
    await networkLossDriver.inject(suite.ctx, o2, new AbortController().signal);
    await c.remove();
    await networkLossDriver.recover(suite.ctx, (await suite.ctx.ledger.get(o2.faultId))!);
    await expectClean(null, o2.faultId);
  });

  it('undoes a partial injection: a taken chain name fails with conflict and leaves no ledger entry', async () => {
    const c = await container();
    const o = order(c, { percent: 50 });
    await nsRunChecked(await suite.pidOf(c), 'iptables', ['-t', 'filter', '-N', chainNameForFault(o.faultId)]);
    await expect(networkLossDriver.inject(suite.ctx, o, new AbortController().signal)).rejects.toMatchObject({ code: 'conflict' });
    await expectClean(c, o.faultId);
  });

  it('refuses an aborted order and bad params before touching anything', async () => {
    const c = await container();
    const abort = new AbortController();
    abort.abort();
    const o = order(c, { percent: 50 });
    await expect(networkLossDriver.inject(suite.ctx, o, abort.signal)).rejects.toMatchObject({ code: 'aborted' });
    await expectClean(c, o.faultId);
    const bad = order(c, { percent: 0 });
    await expect(networkLossDriver.inject(suite.ctx, bad, new AbortController().signal)).rejects.toMatchObject({ code: 'invalid_request' });
    await expectClean(c, bad.faultId);
  });
});
