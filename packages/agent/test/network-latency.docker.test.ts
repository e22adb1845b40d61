import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { networkLatencyDriver } from '../src/faults/network-latency.js';
import { detectCapabilities } from '../src/faults/registry.js';
import type { FaultOrder } from '../src/faults/types.js';
import { chainNameForFault } from '../src/host/iptables.js';
import { findProxies } from '../src/host/latency-proxy.js';
import { nsRunChecked } from '../src/host/netns.js';
import { iptablesSaveIn, medianLatency, type TestContainer } from './helpers/docker.js';
import { useDockerFaultSuite } from './helpers/fault-suite.js';

// Needs root and a real Docker engine: the fault runs in a real container's network namespace and
// the effect is measured from the host through the published port.

const LATENCY_MS = 100;
const JITTER_MS = 10;

describe('network-latency with the proxy mechanism (real Docker)', { timeout: 120_000 }, () => {
  const suite = useDockerFaultSuite({ proxy: true });

  function container(labels?: Record<string, string>): Promise<TestContainer> {
    return suite.container(labels ? { labels } : {});
  }

  function order(c: TestContainer, overrides: Partial<FaultOrder> = {}, params: Record<string, unknown> = {}): FaultOrder {
    const faultId = `test-${randomBytes(6).toString('hex')}`;
    suite.track(faultId);
    return {
      faultId,
      runId: 'run-test',
      type: 'network-latency',
      params: { latencyMs: LATENCY_MS, jitterMs: JITTER_MS, mechanism: 'proxy', ...params },
      target: { containerId: c.id, containerName: c.name },
      durationMs: 60_000,
      ...overrides,
    };
  }

  async function expectClean(c: TestContainer | null, faultId: string): Promise<void> {
    expect(await findProxies(faultId)).toEqual([]);
    await suite.expectNoFilterRules(c, faultId);
  }

  it('detects the proxy mechanism on this host', async () => {
    const caps = await detectCapabilities({ latencyProxyScript: suite.proxyScript });
    expect(caps.latencyMechanisms).toContain('proxy');
    expect(caps.faults).toEqual(expect.arrayContaining(['network-latency', 'container-kill']));
    console.info('capabilities:', JSON.stringify(caps));
  });

  it('adds the latency seen by a client, reverts to baseline, leaves nothing, and reverts again as a no-op', async () => {
    const c = await container();
    const baseline = await medianLatency(c.hostPort);
    const o = order(c);
    const { revert, details } = await networkLatencyDriver.inject(suite.ctx, o, new AbortController().signal);
    expect(details).toMatchObject({ mechanism: 'proxy', ports: [80], chain: chainNameForFault(o.faultId) });

    const entry = await suite.ctx.ledger.get(o.faultId);
    expect(entry).toMatchObject({ state: 'active', mechanism: 'proxy', containerId: c.id, artifacts: { chain: chainNameForFault(o.faultId), ports: [80] } });
    const proxyPid = entry!.artifacts.proxyPid!;
    expect(readFileSync(`/proc/${proxyPid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['faultline-latency-proxy', o.faultId]));
    expect(await findProxies(o.faultId)).toEqual([expect.objectContaining({ pid: proxyPid, faultId: o.faultId })]);
    expect(await iptablesSaveIn(await suite.pidOf(c))).toContain(chainNameForFault(o.faultId));

    // 31 samples: with ±10 ms uniform jitter the median then stays within about ±3 ms of its centre.
    const during = await medianLatency(c.hostPort, 31);
    const added = during.median - baseline.median;
    const revertStart = performance.now();
    await revert();
    const revertMs = performance.now() - revertStart;
    const after = await medianLatency(c.hostPort);
    console.info(
      `latency (median of fresh connections): baseline ${baseline.median.toFixed(1)} ms, during ${during.median.toFixed(1)} ms (+${added.toFixed(1)}), after ${after.median.toFixed(1)} ms; revert took ${revertMs.toFixed(0)} ms`,
    );
    expect(added).toBeGreaterThanOrEqual(LATENCY_MS * 0.9);
    expect(added).toBeLessThanOrEqual(LATENCY_MS * 1.1);
    expect(after.median).toBeLessThan(baseline.median + 15);
    await expectClean(c, o.faultId);

    await revert();
    await expectClean(c, o.faultId);
  });

  it('recovers from the ledger after an agent crash (in-memory revert lost)', async () => {
    const c = await container();
    const o = order(c);
    await networkLatencyDriver.inject(suite.ctx, o, new AbortController().signal); // the revert is dropped
    expect((await medianLatency(c.hostPort, 5)).median).toBeGreaterThan(LATENCY_MS * 0.9);

    const entries = await suite.ctx.ledger.list();
    const entry = entries.find((e) => e.faultId === o.faultId);
    expect(entry).toBeDefined();
    await networkLatencyDriver.recover(suite.ctx, entry!);
    await expectClean(c, o.faultId);
    expect((await medianLatency(c.hostPort, 5)).median).toBeLessThan(LATENCY_MS * 0.5);
  });

  it('recovers when the container was restarted meanwhile (new namespace; the proxy still needs killing)', async () => {
    const c = await container();
    const o = order(c);
    await networkLatencyDriver.inject(suite.ctx, o, new AbortController().signal);
    const oldPid = await suite.pidOf(c);
    await suite.docker.getContainer(c.id).restart({ t: 0 });
    expect(await suite.pidOf(c)).not.toBe(oldPid);
    expect(await findProxies(o.faultId)).toHaveLength(1);

    await networkLatencyDriver.recover(suite.ctx, (await suite.ctx.ledger.get(o.faultId))!);
    await expectClean(c, o.faultId);
  });

  it('recovers when the container is gone', async () => {
    const c = await container();
    const o = order(c);
    await networkLatencyDriver.inject(suite.ctx, o, new AbortController().signal);
    await c.remove();
    await networkLatencyDriver.recover(suite.ctx, (await suite.ctx.ledger.get(o.faultId))!);
    await expectClean(null, o.faultId);
  });

  it('undoes a partial injection: a failing redirect leaves no proxy and no ledger entry', async () => {
    const c = await container();
    const o = order(c);
    // Make the chain creation fail: the chain name is already taken in the namespace.
    const pid = await suite.pidOf(c);
    await nsRunChecked(pid, 'iptables', ['-t', 'nat', '-N', chainNameForFault(o.faultId)]);
    await expect(networkLatencyDriver.inject(suite.ctx, o, new AbortController().signal)).rejects.toMatchObject({ code: 'conflict' });
    await expectClean(c, o.faultId);
    expect((await medianLatency(c.hostPort, 3)).median).toBeLessThan(LATENCY_MS * 0.5);
  });

  it('the proxy ends the fault itself 5 s after the deadline when nobody reverts it', async () => {
    const c = await container();
    const o = order(c, { durationMs: 500 });
    const { revert } = await networkLatencyDriver.inject(suite.ctx, o, new AbortController().signal);
    expect((await medianLatency(c.hostPort, 3)).median).toBeGreaterThan(LATENCY_MS * 0.9);
    const until = Date.now() + 15_000;
    while ((await findProxies(o.faultId)).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    expect(await findProxies(o.faultId)).toEqual([]);
    expect(await iptablesSaveIn(await suite.pidOf(c))).not.toMatch(/FL-[0-9a-f]{12}/);
    expect((await medianLatency(c.hostPort, 3)).median).toBeLessThan(LATENCY_MS * 0.5);
    await revert(); // still fine, and it clears the ledger
    await expectClean(c, o.faultId);
  });

  it('refuses protected containers and touches nothing', async () => {
    const c = await container({ 'faultline.protected': 'true' });
    const o = order(c);
    await expect(networkLatencyDriver.inject(suite.ctx, o, new AbortController().signal)).rejects.toThrow(/protected/);
    await expectClean(c, o.faultId);
  });

  it('refuses an aborted order before touching anything', async () => {
    const c = await container();
    const o = order(c);
    const abort = new AbortController();
    abort.abort();
    await expect(networkLatencyDriver.inject(suite.ctx, o, abort.signal)).rejects.toMatchObject({ code: 'aborted' });
    await expectClean(c, o.faultId);
  });

  it('says netem is unsupported when the agent does not have it', async () => {
    const c = await container();
    const o = order(c, {}, { mechanism: 'netem' });
    await expect(networkLatencyDriver.inject(suite.ctx, o, new AbortController().signal)).rejects.toMatchObject({ code: 'unsupported' });
    await expectClean(c, o.faultId);
  });
});
