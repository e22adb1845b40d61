/**
 * Latency accuracy of the proxy: the median delay it adds for targets from 10 ms to 1 s, and the
 * spread of its jitter against the configured value. Side by side, the floor: the same requests
 * answered by the server itself after setTimeout(latency), no proxy: what any Node timer gives on
 * this machine under its current load.
 *
 * The agent's proxy program on loopback in front of an HTTP server; C keep-alive connections each
 * make R sequential requests. Added delay = each request's time − the median direct time measured
 * just before, in the same trial (sequential requests on one connection). Jitter is uniform in [latency − jitter, latency + jitter]; its
 * half-width is estimated from the 5th–95th percentile spread (÷ 1.8, robust to outliers).
 */
import { keepAlive, startProxy, startUpstream, timedGet } from '../http-client.js';
import { ms, type Bench, type Row } from '../report.js';
import { median, summarize, uniformHalfWidth } from '../stats.js';

const sign = (value: number): string => `${value >= 0 ? '+' : '−'}${ms(Math.abs(value))}`;

/** C connections × R sequential GETs of `path` on `port`, staggered; each time minus `directMs`. */
async function load(port: number, path: string, connections: number, requests: number, spacingMs: number, directMs: number): Promise<number[]> {
  const agents = Array.from({ length: connections }, () => keepAlive());
  const added: number[] = [];
  try {
    await Promise.all(
      agents.map(async (agent, index) => {
        // Stagger the connections so that their timers do not all fire together.
        await new Promise((done) => setTimeout(done, (index * Math.max(1, spacingMs)) / connections));
        await timedGet(port, '/ping', agent); // opens the connection
        for (let i = 0; i < requests; i += 1) added.push((await timedGet(port, path, agent)).ms - directMs);
      }),
    );
  } finally {
    for (const agent of agents) agent.destroy();
  }
  return added;
}

/** The median direct time: sequential requests on one connection, as unhurried as the delayed ones. */
async function directMedian(port: number): Promise<number> {
  const agent = keepAlive();
  const direct: number[] = [];
  try {
    for (let i = 0; i < 40; i += 1) {
      direct.push((await timedGet(port, '/ping', agent)).ms);
      await new Promise((done) => setTimeout(done, 2));
    }
  } finally {
    agent.destroy();
  }
  return median(direct);
}

/**
 * One trial: the proxy's added delays, and side by side the floor: the same requests answered by
 * the server itself after setTimeout(latency), without the proxy.
 */
async function measure(upstream: number, latencyMs: number, jitterMs: number, connections: number, requests: number): Promise<{ added: number[]; floor: number[] }> {
  const proxy = await startProxy(upstream, latencyMs, jitterMs);
  try {
    const directMs = await directMedian(upstream);
    const added = await load(proxy.port, '/ping', connections, requests, latencyMs, directMs);
    const floor = jitterMs > 0 ? [] : await load(upstream, `/delay?ms=${latencyMs}`, connections, requests, latencyMs, directMs);
    return { added, floor };
  } finally {
    await proxy.child.stop();
  }
}

export const latencyBench: Bench = {
  name: 'latency',
  title: 'Latency accuracy of the proxy (10 ms – 1 s, jitter)',
  docker: false,
  async run(context) {
    const trials = context.quick ? 2 : 3;
    const targets = [10, 50, 100, 500, 1000];
    const connections = context.quick ? 10 : 20;
    const requestsFor = (latency: number): number => (context.quick ? (latency >= 500 ? 2 : 5) : latency >= 500 ? 4 : 10);
    const jitters = [
      { latency: 100, jitter: 20 },
      { latency: 500, jitter: 100 },
    ];
    const jitterRequests = context.quick ? 15 : 30;
    const upstream = await startUpstream();
    const rows: Row[] = [];
    const data: Record<string, unknown> = { trials, connections };
    try {
      for (const target of targets) {
        const errors: number[] = [];
        const floors: number[] = [];
        const samples: number[][] = [];
        for (let trial = 0; trial < trials; trial += 1) {
          const { added, floor } = await measure(upstream.port, target, 0, connections, requestsFor(target));
          errors.push(median(added) - target);
          floors.push(median(floor) - target);
          samples.push(added);
        }
        const error = summarize(errors);
        const floor = summarize(floors);
        context.log(`  ${target} ms: median added ${sign(error.median)} off the target; setTimeout floor ${sign(floor.median)}`);
        rows.push({
          metric: `median added delay, target ${target} ms`,
          goal: '±1 ms of the target',
          measured: `${sign(error.median)} (${sign(error.min)} … ${sign(error.max)})`,
          sideBySide: `setTimeout floor ${sign(floor.median)} (${sign(floor.min)} … ${sign(floor.max)})`,
          met: Math.abs(error.median) <= 1,
        });
        data[`latency${target}`] = { errors, floors, samples };
      }
      for (const { latency, jitter } of jitters) {
        const spreads: number[] = [];
        const centres: number[] = [];
        for (let trial = 0; trial < trials; trial += 1) {
          const { added } = await measure(upstream.port, latency, jitter, connections, jitterRequests);
          spreads.push(uniformHalfWidth(added) / jitter);
          centres.push(median(added) - latency);
        }
        const spread = summarize(spreads);
        context.log(`  ${latency} ± ${jitter} ms: spread ${(spread.median * 100).toFixed(0)}% of the configured jitter`);
        rows.push({
          metric: `jitter spread, ${latency} ms ± ${jitter} ms`,
          goal: 'within ±20% of the jitter',
          measured: `${(spread.median * 100).toFixed(0)}% (${(spread.min * 100).toFixed(0)}–${(spread.max * 100).toFixed(0)}%) of ${jitter} ms`,
          sideBySide: `median ${sign(median(centres))} off the latency`,
          met: spread.median >= 0.8 && spread.median <= 1.2,
        });
        data[`jitter${latency}`] = { spreads, centres };
      }
    } finally {
      await upstream.child.stop();
    }
    return {
      name: 'latency',
      title: this.title,
      rows,
      notes: [
        `${trials} trials per target, ${connections} concurrent keep-alive connections, each request's time minus the median direct time of the same trial. ` +
          'The floor is the same load against the server answering after setTimeout(target) itself: the part of the error that any Node timer has on this machine now. ' +
          'Spread = (p95 − p5) / 1.8 of the added delays, which for a uniform ±jitter equals the jitter.',
      ],
      data,
    };
  },
};
