/**
 * network-loss, network-blackhole and network-bandwidth through the real controller and agent,
 * against real containers: each effect is measured from outside (TCP connects from the host and
 * from a second container, the transfer rate of a file), then the revert (baseline restored,
 * nothing left in the namespace or the ledger), and a kill -9 of the agent mid-fault.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunJournal } from '@faultline/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, startWebContainer, type WebContainer } from './fixtures/docker.js';
import { experimentYaml } from './fixtures/experiments.js';
import { startAgent, startController, startRun, waitForApplied, waitForRunEnd, type AgentHandle, type ControllerHandle } from './fixtures/faultline.js';
import { namespaceLeftovers } from './fixtures/leftovers.js';
import { connectsFrom, connectStats, containerIp, download, makeFile } from './fixtures/network.js';

/** A port nobody listens on: the container's kernel answers every SYN that arrives with a RST. */
const CLOSED_PORT = 81;

/** How long after its deadline the fault was reverted, from the journal. */
function revertLagMs(journal: RunJournal, index = 0): number {
  const fault = journal.faults[index]!;
  return fault.revertedAt! - (fault.appliedAt! + fault.durationMs!);
}

describe('network faults (real controller and agent, real Docker)', () => {
  let controller: ControllerHandle;
  let agent: AgentHandle;
  const started = Date.now();

  beforeAll(async () => {
    controller = await startController();
    agent = await startAgent(controller, { leaseTimeout: '30s' });
  });

  afterAll(async () => {
    await agent?.[Symbol.asyncDispose]();
    await controller?.[Symbol.asyncDispose]();
    process.stdout.write(`network-faults.test.ts took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  });

  async function web(label: string): Promise<WebContainer & AsyncDisposable & { ip: string }> {
    const container = await startWebContainer({ labels: { e2e: label } });
    try {
      return Object.assign(container, { ip: await containerIp(container.id) });
    } catch (err) {
      await container[Symbol.asyncDispose]();
      throw err;
    }
  }

  async function ledgerFiles(): Promise<string[]> {
    return (await readdir(join(agent.stateDir, 'ledger')).catch(() => [])).filter((file) => file.endsWith('.json'));
  }

  it('network-loss: about the requested share of connection attempts fails, and none after the revert', async () => {
    const label = `loss-${Date.now()}`;
    await using target = await web(label);
    const baseline = await connectStats(target.ip, CLOSED_PORT, 100);
    expect(baseline.failed).toBeLessThanOrEqual(1);

    const id = await startRun(controller, 'loss-e2e', experimentYaml('loss-e2e', label, '    - {fault: network-loss, target: web, duration: 10s, params: {percent: 50}}\n'));
    const applied = await waitForApplied(controller, id);
    expect(applied.faults[0]?.details).toMatchObject({ mechanism: 'iptables', percent: 50, direction: 'ingress' });
    expect(await namespaceLeftovers(target.pid)).not.toEqual([]);
    // A dropped SYN is retransmitted only after 1 s, so with a 600 ms timeout an attempt fails with
    // probability 0.5. Over 200 attempts: sd = sqrt(0.5 * 0.5 / 200) = 3.5 %, so 35-65 % is ±4.2 sd
    // (a false alarm about once in 40 000 runs).
    const during = await connectStats(target.ip, CLOSED_PORT, 200);
    expect(during.timeouts).toBe(during.failed);

    const journal = await waitForRunEnd(controller, id, 30_000);
    expect(journal.status).toBe('completed');
    const after = await connectStats(target.ip, CLOSED_PORT, 100);
    process.stdout.write(
      `network-loss 50%: baseline ${baseline.failed}/100 connects failed, during ${during.failed}/200 (${(during.failureRate * 100).toFixed(1)}%), after ${after.failed}/100; reverted ${revertLagMs(journal)} ms after its deadline\n`,
    );
    expect(during.failureRate).toBeGreaterThanOrEqual(0.35);
    expect(during.failureRate).toBeLessThanOrEqual(0.65);
    expect(after.failed).toBeLessThanOrEqual(1);
    expect(await namespaceLeftovers(target.pid)).toEqual([]);
    expect(await ledgerFiles()).toEqual([]);
  });

  it('network-blackhole: listed ports and peers time out, the others keep working, all of it both ways', async () => {
    const label = `bh-${Date.now()}`;
    await using target = await web(label);
    await using peer = await web(`${label}-peer`);
    for (const c of [target, peer]) await docker(['exec', c.id, '/bin/busybox', 'httpd', '-p', '8080', '-h', '/www']);
    expect(await connectsFrom(peer.id, target.ip, 8080)).toBe(true);

    // Two blackholes on one container at once: TCP port 80 for everyone, and everything for the peer.
    const id = await startRun(
      controller,
      'blackhole-e2e',
      experimentYaml(
        'blackhole-e2e',
        label,
        `    - {fault: network-blackhole, target: web, duration: 2m, background: true, params: {ports: [80]}}
    - {fault: network-blackhole, target: web, duration: 2m, params: {cidrs: ["${peer.ip}/32"]}}
`,
      ),
    );
    await waitForApplied(controller, id, 2);
    const port80 = await connectStats(target.ip, 80, 10);
    const published = await fetch(target.url, { signal: AbortSignal.timeout(1500) }).then(
      () => 'answered',
      (err: Error) => err.name,
    );
    const port8080 = await fetch(`http://${target.ip}:8080/`, { signal: AbortSignal.timeout(2000) }).then((res) => res.status);
    const closedPort = await connectStats(target.ip, CLOSED_PORT, 10);
    const peerIn = await connectsFrom(peer.id, target.ip, 8080);
    const peerOut = await connectsFrom(target.id, peer.ip, 8080);

    // Measured at leisure (docker exec is slow on a busy machine), then ended by an abort, which
    // reverts both.
    const abortedAt = Date.now();
    const abort = await controller.api('POST', `/api/v1/runs/${id}/abort`, { reason: 'measured' });
    expect(abort.status).toBeLessThan(300);
    const journal = await waitForRunEnd(controller, id, 30_000);
    expect(journal.status).toBe('aborted');
    expect(journal.faults.map((fault) => fault.revertedAt !== null)).toEqual([true, true]);
    const revertedIn = Math.max(...journal.faults.map((fault) => fault.revertedAt!)) - abortedAt;
    process.stdout.write(
      `network-blackhole: port 80 ${port80.timeouts}/10 connects timed out, published port ${published}, port 8080 HTTP ${port8080}, port ${CLOSED_PORT} ${closedPort.answered}/10 answered; peer in ${peerIn}, out ${peerOut}; both reverted ${revertedIn} ms after the abort request\n`,
    );
    expect(port80.timeouts).toBe(10);
    expect(published).toBe('TimeoutError');
    expect(port8080).toBe(200);
    expect(closedPort.answered).toBe(10);
    expect(peerIn).toBe(false);
    expect(peerOut).toBe(false);

    expect(await namespaceLeftovers(target.pid)).toEqual([]);
    expect(await ledgerFiles()).toEqual([]);
    expect((await connectStats(target.ip, 80, 10)).failed).toBe(0);
    expect((await fetch(target.url, { signal: AbortSignal.timeout(2000) })).status).toBe(200);
    expect(await connectsFrom(peer.id, target.ip, 8080)).toBe(true);
    expect(await connectsFrom(target.id, peer.ip, 8080)).toBe(true);
  });

  it('network-bandwidth: a file comes at the rate, and at full speed after the revert', async () => {
    const label = `bw-${Date.now()}`;
    await using target = await web(label);
    const kib = 512;
    await makeFile(target.id, '/www/big', kib);
    const url = `${target.url}big`;
    const baseline = await download(url);

    const id = await startRun(controller, 'bandwidth-e2e', experimentYaml('bandwidth-e2e', label, '    - {fault: network-bandwidth, target: web, duration: 10s, params: {rate: 1mbit}}\n'));
    const applied = await waitForApplied(controller, id);
    expect(applied.faults[0]?.details).toMatchObject({ mechanism: 'tbf', bitsPerSecond: 1_000_000, dev: 'eth0', direction: 'egress' });
    const during = await download(url);

    const journal = await waitForRunEnd(controller, id, 30_000);
    expect(journal.status).toBe('completed');
    const after = await download(url);
    const kBps = (t: { bytesPerSecond: number }): string => (t.bytesPerSecond / 1000).toFixed(1);
    process.stdout.write(
      `network-bandwidth 1mbit (125 kB/s): ${kib} KiB at baseline ${kBps(baseline)} kB/s, during ${kBps(during)} kB/s (${during.seconds.toFixed(2)} s), after ${kBps(after)} kB/s; reverted ${revertLagMs(journal)} ms after its deadline\n`,
    );
    expect(during.bytes).toBe(kib * 1024);
    // tbf counts whole Ethernet frames: 1448 payload bytes of 1514, so about 119.5 kB/s of HTTP body
    // is expected; the 4 KiB bucket and the handshake are negligible for 512 KiB. ±25 % of the
    // nominal 125 kB/s leaves room for a busy machine without accepting a rate off by a factor.
    expect(during.bytesPerSecond).toBeGreaterThanOrEqual(125_000 * 0.75);
    expect(during.bytesPerSecond).toBeLessThanOrEqual(125_000 * 1.25);
    expect(baseline.bytesPerSecond).toBeGreaterThan(10 * 125_000);
    expect(after.bytesPerSecond).toBeGreaterThan(10 * 125_000);
    expect(await namespaceLeftovers(target.pid)).toEqual([]);
    expect(await ledgerFiles()).toEqual([]);
  });

  it('agent killed with -9 with all three in place: on restart it reverts them before connecting', async () => {
    const label = `nfcrash-${Date.now()}`;
    await using target = await web(label);
    await makeFile(target.id, '/www/big', 256);
    const id = await startRun(
      controller,
      'net-crash-e2e',
      experimentYaml(
        'net-crash-e2e',
        label,
        `    - {fault: network-loss, target: web, duration: 5m, background: true, params: {percent: 100, ports: [${CLOSED_PORT}]}}
    - {fault: network-blackhole, target: web, duration: 5m, background: true, params: {ports: [8080]}}
    - {fault: network-bandwidth, target: web, duration: 5m, params: {rate: 1mbit}}
`,
      ),
    );
    const applied = await waitForApplied(controller, id, 3);
    const faultIds = applied.faults.map((fault) => fault.faultId);
    expect((await connectStats(target.ip, CLOSED_PORT, 5)).timeouts).toBe(5);
    expect((await connectStats(target.ip, 8080, 5)).timeouts).toBe(5);
    expect((await download(`${target.url}big`)).bytesPerSecond).toBeLessThan(125_000 * 1.25);
    const leftovers = await namespaceLeftovers(target.pid);
    expect(leftovers.filter((line) => line.includes('-j FL-')).length).toBe(3);
    expect(leftovers.some((line) => line.startsWith('tc:') && line.includes('tbf'))).toBe(true);

    agent.process.kill('SIGKILL');
    await agent.process.exited;
    const failed = await waitForRunEnd(controller, id, 20_000);
    expect(failed.status).toBe('failed');
    // Nobody reverted anything meanwhile: the faults are still in place until the agent comes back.
    expect(await namespaceLeftovers(target.pid)).toEqual(leftovers);
    expect((await ledgerFiles()).length).toBe(3);

    const restartedAt = Date.now();
    await agent.restart();
    const restartMs = Date.now() - restartedAt;
    expect(await namespaceLeftovers(target.pid)).toEqual([]);
    expect(await ledgerFiles()).toEqual([]);
    const lines = agent.process.stdout;
    const connectingAt = lines.findIndex((line) => line.includes('connecting to the controller'));
    expect(connectingAt).toBeGreaterThanOrEqual(0);
    for (const faultId of faultIds) {
      const revertedAt = lines.findIndex((line) => line.includes('leftover fault reverted') && line.includes(faultId));
      expect(revertedAt, `leftover ${faultId} reverted before connecting`).toBeGreaterThanOrEqual(0);
      expect(revertedAt).toBeLessThan(connectingAt);
    }
    expect((await connectStats(target.ip, CLOSED_PORT, 10)).failed).toBe(0);
    expect((await connectStats(target.ip, 8080, 10)).failed).toBe(0);
    expect((await download(`${target.url}big`)).bytesPerSecond).toBeGreaterThan(10 * 125_000);
    process.stdout.write(`network faults after agent kill -9: restart to clean and connected ${restartMs} ms\n`);
  });
});
