/**
 * The latency proxy with no delay set: what it costs per request, and its throughput.
 *
 * The agent's proxy program (latency-proxy-main.js, started as the agent starts it, here on
 * loopback with `--latency-ms 0`) in front of an HTTP server (its own process); the client is this
 * process. Direct and proxied requests alternate in blocks within each trial, so the added time is
 * a difference measured side by side: p50(proxied) − p50(direct), per trial.
 */
import type { Agent } from 'node:http';
import { availableParallelism } from 'node:os';
import { keepAlive, startProxy, startUpstream, timedGet } from '../http-client.js';
import { times, type Bench, type Row } from '../report.js';
import { median, pairedDifferences, pairedRatios, summarize } from '../stats.js';

const us = (ms: number): string => `${(ms * 1000).toFixed(0)} µs`;
const usRange = (s: { median: number; min: number; max: number }): string => `${us(s.median)} (${(s.min * 1000).toFixed(0)}–${us(s.max)})`;

/** Alternating blocks of direct and proxied requests; returns p50 of each, ms. */
async function requestTrial(direct: number, proxied: number, requests: number, reuse: boolean): Promise<{ direct: number; proxied: number }> {
  const agents: Record<'direct' | 'proxied', Agent | false> = reuse ? { direct: keepAlive(), proxied: keepAlive() } : { direct: false, proxied: false };
  const samples = { direct: [] as number[], proxied: [] as number[] };
  const block = 50;
  try {
    for (let warm = 0; warm < 20; warm += 1) {
      await timedGet(direct, '/ping', agents.direct);
      await timedGet(proxied, '/ping', agents.proxied);
    }
    for (let done = 0; done < requests; done += block) {
      const order = (done / block) % 2 === 0 ? (['direct', 'proxied'] as const) : (['proxied', 'direct'] as const);
      for (const kind of order) {
        const port = kind === 'direct' ? direct : proxied;
        for (let i = 0; i < block; i += 1) samples[kind].push((await timedGet(port, '/ping', agents[kind])).ms);
      }
    }
  } finally {
    for (const agent of Object.values(agents)) if (agent) agent.destroy();
  }
  return { direct: median(samples.direct), proxied: median(samples.proxied) };
}

export const proxyBench: Bench = {
  name: 'proxy',
  title: 'Latency proxy with no delay: added time per request, throughput',
  docker: false,
  async run(context) {
    const trials = context.quick ? 3 : 7;
    const requests = context.quick ? 400 : 2000;
    const connRequests = context.quick ? 200 : 600;
    const bytes = (context.quick ? 64 : 256) * 1024 * 1024;
    const upstream = await startUpstream();
    const proxy = await startProxy(upstream.port, 0, 0);
    try {
      const keep = { direct: [] as number[], proxied: [] as number[] };
      const fresh = { direct: [] as number[], proxied: [] as number[] };
      const rate = { direct: [] as number[], proxied: [] as number[] };
      for (let trial = 0; trial < trials; trial += 1) {
        const a = await requestTrial(upstream.port, proxy.port, requests, true);
        keep.direct.push(a.direct);
        keep.proxied.push(a.proxied);
        const b = await requestTrial(upstream.port, proxy.port, connRequests, false);
        fresh.direct.push(b.direct);
        fresh.proxied.push(b.proxied);
        const order = trial % 2 === 0 ? (['direct', 'proxied'] as const) : (['proxied', 'direct'] as const);
        for (const kind of order) {
          const result = await timedGet(kind === 'direct' ? upstream.port : proxy.port, `/bytes?n=${bytes}`, false);
          if (result.bytes !== bytes) throw new Error(`${kind}: got ${result.bytes} of ${bytes} bytes`);
          rate[kind].push(bytes / 1e6 / (result.ms / 1000));
        }
        context.log(
          `  trial ${trial + 1}/${trials}: keep-alive +${us(a.proxied - a.direct)}, new connection +${us(b.proxied - b.direct)}; ` +
            `${rate.proxied.at(-1)?.toFixed(0)} MB/s vs direct ${rate.direct.at(-1)?.toFixed(0)} MB/s`,
        );
      }
      const addedKeep = summarize(pairedDifferences(keep.proxied, keep.direct));
      const addedFresh = summarize(pairedDifferences(fresh.proxied, fresh.direct));
      const throughput = summarize(rate.proxied);
      const direct = summarize(rate.direct);
      const share = summarize(pairedRatios(rate.proxied, rate.direct));
      const rows: Row[] = [
        {
          metric: 'added p50 per request (keep-alive connection)',
          goal: '≤ 300 µs (Toxiproxy < 100 µs claimed)',
          measured: usRange(addedKeep),
          sideBySide: `direct p50 ${usRange(summarize(keep.direct))}`,
          met: addedKeep.median <= 0.3,
        },
        {
          metric: 'added p50 per request (new connection each)',
          goal: '≤ 300 µs',
          measured: usRange(addedFresh),
          sideBySide: `direct p50 ${usRange(summarize(fresh.direct))}`,
          met: addedFresh.median <= 0.3,
        },
        {
          metric: `throughput, ${bytes / 1024 / 1024} MiB server→client`,
          goal: '≥ 100 MB/s',
          measured: `${throughput.median.toFixed(0)} MB/s (${throughput.min.toFixed(0)}–${throughput.max.toFixed(0)})`,
          sideBySide: `direct ${direct.median.toFixed(0)} MB/s`,
          met: throughput.median >= 100,
        },
        {
          metric: 'throughput, share of direct',
          goal: '≥ 80%',
          measured: `${(share.median * 100).toFixed(0)}% (${(share.min * 100).toFixed(0)}–${(share.max * 100).toFixed(0)}%)`,
          sideBySide: `${times(share.median)} direct, same trial`,
          met: share.median >= 0.8,
        },
      ];
      return {
        name: 'proxy',
        title: this.title,
        rows,
        notes: [
          `${trials} trials; per trial ${requests} keep-alive and ${connRequests} new-connection GETs each way, in alternating blocks of 50, then one ${bytes / 1024 / 1024} MiB download each way. ` +
            `Client, proxy and server are three processes on loopback sharing the machine's ${availableParallelism()} cores.`,
        ],
        data: { trials, requests, connRequests, bytes, keep, fresh, rate },
      };
    } finally {
      await proxy.child.stop();
      await upstream.child.stop();
    }
  },
};
