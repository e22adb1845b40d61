/**
 * The latency fault end to end, through a real container's network namespace: a real controller
 * and agent apply `network-latency` (proxy mechanism: nsenter, iptables REDIRECT, the proxy inside
 * the namespace) to a busybox httpd container; requests go to its published port on 127.0.0.1.
 * Each trial measures, in turn: no fault, a fault with latency 1ms (the smallest the agent accepts;
 * minus that 1 ms, what the proxy path costs), and a fault with latency 100ms (accuracy on the real path). busybox httpd closes each connection, so
 * every request is a new connection (NAT applies to new connections only).
 */
import { timedGet } from '../http-client.js';
import { startDockerRig, type DockerRig } from '../docker-rig.js';
import { sleep } from '../proc.js';
import { api } from '../processes.js';
import { ms, type Bench, type Row } from '../report.js';
import { median, pairedDifferences, summarize } from '../stats.js';

const us = (value: number): string => `${(value * 1000).toFixed(0)} µs`;

async function publishedPort(rig: DockerRig, id: string): Promise<number> {
  const info = await rig.docker.getContainer(id).inspect();
  const port = info.NetworkSettings.Ports['80/tcp']?.[0]?.HostPort;
  if (!port) throw new Error('the container has no published port 80');
  return Number(port);
}

async function requests(port: number, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) times.push((await timedGet(port, '/', false)).ms);
  return times;
}

/** Applies a latency fault through a run and resolves once it is in place; returns the run id. */
async function applyLatency(rig: DockerRig, latency: string): Promise<string> {
  const name = `bench-latency-${latency}`;
  const experiment = {
    apiVersion: 'faultline/v1',
    kind: 'Experiment',
    metadata: { name },
    spec: {
      targets: { box: { containers: { labels: { 'faultline.bench': rig.tag, 'faultline.bench.name': 'web' } } } },
      method: [{ fault: 'network-latency', target: 'box', duration: '5m', params: { latency, ports: [80], mechanism: 'proxy' } }],
      safety: { maxTargets: 1, timeout: '10m' },
    },
  };
  const put = await api(rig.controller.url, 'PUT', `/api/v1/experiments/${name}`, experiment);
  if (put.status !== 200 && put.status !== 201) throw new Error(`PUT ${name} answered ${put.status}: ${JSON.stringify(put.body)}`);
  const run = await api<{ id: string }>(rig.controller.url, 'POST', `/api/v1/experiments/${name}/runs`, {});
  if (run.status !== 202) throw new Error(`POST runs answered ${run.status}: ${JSON.stringify(run.body)}`);
  for (let i = 0; i < 300; i += 1) {
    const journal = await api<{ status: string; reason: string | null; faults: { appliedAt: number | null }[] }>(rig.controller.url, 'GET', `/api/v1/runs/${run.body.id}`);
    if (['completed', 'deviated', 'aborted', 'failed'].includes(journal.body.status)) throw new Error(`the latency run ended ${journal.body.status}: ${journal.body.reason}`);
    if (journal.body.faults.some((fault) => fault.appliedAt !== null)) return run.body.id;
    await sleep(100);
  }
  throw new Error('the latency fault was not applied within 30 s');
}

async function abortRun(rig: DockerRig, id: string): Promise<void> {
  await api(rig.controller.url, 'POST', `/api/v1/runs/${id}/abort`, { reason: 'bench' });
  for (let i = 0; i < 300; i += 1) {
    const journal = await api<{ status: string }>(rig.controller.url, 'GET', `/api/v1/runs/${id}`);
    if (['completed', 'deviated', 'aborted', 'failed'].includes(journal.body.status)) return;
    await sleep(100);
  }
  throw new Error(`run ${id} did not end after its abort`);
}

export const proxyContainerBench: Bench = {
  name: 'proxy-container',
  title: 'Latency fault through a real container namespace (1 ms and 100 ms)',
  docker: true,
  async run(context) {
    const trials = context.quick ? 2 : 4;
    const count = context.quick ? 100 : 300;
    const delayedCount = context.quick ? 30 : 60;
    const rig = await startDockerRig();
    try {
      const id = await rig.container('web', { publish: 80 });
      const port = await publishedPort(rig, id);
      // busybox httpd answers once it runs.
      for (let i = 0; ; i += 1) {
        try {
          await timedGet(port, '/', false);
          break;
        } catch (error) {
          if (i > 100) throw error;
          await sleep(100);
        }
      }
      const base: number[] = [];
      const zero: number[] = [];
      const hundred: number[] = [];
      for (let trial = 0; trial < trials; trial += 1) {
        await requests(port, 10);
        base.push(median(await requests(port, count)));
        const zeroRun = await applyLatency(rig, '1ms');
        try {
          await requests(port, 10);
          zero.push(median(await requests(port, count)));
        } finally {
          await abortRun(rig, zeroRun);
        }
        const hundredRun = await applyLatency(rig, '100ms');
        try {
          hundred.push(median(await requests(port, delayedCount)));
        } finally {
          await abortRun(rig, hundredRun);
        }
        context.log(
          `  trial ${trial + 1}/${trials}: direct ${ms(base.at(-1) ?? 0)}, 1ms fault +${us((zero.at(-1) ?? 0) - (base.at(-1) ?? 0) - 1)} beyond 1 ms, ` +
            `100ms fault +${ms((hundred.at(-1) ?? 0) - (base.at(-1) ?? 0))}`,
        );
      }
      const added = summarize(pairedDifferences(zero, base).map((value) => value - 1));
      const accuracy = summarize(pairedDifferences(hundred, base).map((value) => value - 100));
      const sign = (value: number): string => `${value >= 0 ? '+' : '−'}${ms(Math.abs(value))}`;
      const rows: Row[] = [
        {
          metric: 'added p50 per request beyond the latency, 1ms fault (container)',
          goal: '≤ 300 µs',
          measured: `${us(added.median)} (${(added.min * 1000).toFixed(0)}–${us(added.max)})`,
          sideBySide: `no fault p50 ${ms(median(base))}`,
          met: added.median <= 0.3,
        },
        {
          metric: 'median added delay, fault with latency 100ms (container)',
          goal: '±1 ms of the target',
          measured: `${sign(accuracy.median)} (${sign(accuracy.min)} … ${sign(accuracy.max)})`,
          sideBySide: `no fault p50 ${ms(median(base))}`,
          met: Math.abs(accuracy.median) <= 1,
        },
      ];
      return {
        name: 'proxy-container',
        title: this.title,
        rows,
        notes: [
          `${trials} trials, each: ${count} requests with no fault, ${count} with a 1ms fault (the agent refuses 0ms), ${delayedCount} with a 100ms fault; every request a new connection to the ` +
            'published port (docker-proxy → container namespace → REDIRECT → the proxy → httpd).',
        ],
        data: { trials, base, zero, hundred },
      };
    } finally {
      await rig.close();
    }
  },
};
