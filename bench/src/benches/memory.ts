/**
 * Controller memory per idle agent connection.
 *
 * A fresh controller (child process, node --expose-gc) is measured after a full GC with no agent,
 * then after each step of real agents connected and idle (heartbeats running), again after a full
 * GC: (heap used, RSS) delta / agents. Side by side, in the same run: a bare `ws` server with the
 * same number of bare clients, each having sent a hello-sized frame.
 */
import { startAgentFleet, startAnchorFleet, type AgentFleet, type AnchorFleet } from '../fleet.js';
import { sleep } from '../proc.js';
import { times, type Bench, type Row } from '../report.js';
import { startServer } from '../servers.js';
import { median, summarize } from '../stats.js';

interface Usage {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

interface Step {
  agents: number;
  heapPerConnection: number;
  rssPerConnection: number;
}

const GOAL_BYTES = 30 * 1024;
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

async function measure(kind: 'faultline' | 'anchor', steps: number[], settleMs: number): Promise<Step[]> {
  const server = await startServer(`memory-${kind}`);
  const fleets: (AgentFleet | AnchorFleet)[] = [];
  try {
    const connected = () => server.call<number>('connected');
    const start = kind === 'faultline' ? await server.call<{ url: string; agentToken: string }>('start-controller') : await server.call<{ url: string }>('start-anchor');
    await sleep(500);
    const base = await server.call<Usage>('memory');
    const result: Step[] = [];
    let have = 0;
    for (const target of steps) {
      const count = target - have;
      if (kind === 'faultline') {
        const { url, agentToken } = start as { url: string; agentToken: string };
        fleets.push(await startAgentFleet({ url, token: agentToken, count, connected, first: have }));
      } else {
        fleets.push(await startAnchorFleet({ url: start.url, count, connected }));
      }
      have = target;
      // Idle: a few heartbeat rounds pass (the controller pings every 2 s).
      await sleep(settleMs);
      const usage = await server.call<Usage>('memory');
      result.push({ agents: target, heapPerConnection: (usage.heapUsed - base.heapUsed) / target, rssPerConnection: (usage.rss - base.rss) / target });
    }
    return result;
  } finally {
    for (const fleet of fleets) await fleet.close().catch(() => undefined);
    await server.call('stop').catch(() => undefined);
    await server.stop();
  }
}

export const memoryBench: Bench = {
  name: 'memory',
  title: 'Controller memory per idle agent connection',
  docker: false,
  async run(context) {
    const steps = context.agents ?? [1000, 5000];
    const trials = context.quick ? 1 : 3;
    const settleMs = context.quick ? 4500 : 6500;
    const runs: { faultline: Step[]; anchor: Step[] }[] = [];
    for (let trial = 0; trial < trials; trial += 1) {
      context.log(`memory: trial ${trial + 1} of ${trials}`);
      const anchor = await measure('anchor', steps, settleMs);
      const faultline = await measure('faultline', steps, settleMs);
      for (const step of faultline) context.log(`  faultline ${step.agents}: heap ${kb(step.heapPerConnection)}, RSS ${kb(step.rssPerConnection)} per connection`);
      for (const step of anchor) context.log(`  ws ${step.agents}: heap ${kb(step.heapPerConnection)}, RSS ${kb(step.rssPerConnection)} per connection`);
      runs.push({ faultline, anchor });
    }
    const rows: Row[] = [];
    const range = (s: { median: number; min: number; max: number }) => `${kb(s.median)} (${(s.min / 1024).toFixed(1)}–${kb(s.max)})`;
    steps.forEach((agents, index) => {
      const pick = (kind: 'faultline' | 'anchor', key: 'heapPerConnection' | 'rssPerConnection') => runs.map((run) => run[kind][index]![key]);
      const heap = summarize(pick('faultline', 'heapPerConnection'));
      const rss = summarize(pick('faultline', 'rssPerConnection'));
      const anchorHeap = summarize(pick('anchor', 'heapPerConnection'));
      const anchorRss = summarize(pick('anchor', 'rssPerConnection'));
      rows.push({
        metric: `heap per connection, ${agents.toLocaleString('en')} agents`,
        goal: `≤ 30 KB (ws: ~23–25 KB)`,
        measured: range(heap),
        sideBySide: `ws ${range(anchorHeap)}; ${times(median(pick('faultline', 'heapPerConnection')) / median(pick('anchor', 'heapPerConnection')))}`,
        met: heap.median <= GOAL_BYTES,
      });
      rows.push({
        metric: `RSS per connection, ${agents.toLocaleString('en')} agents`,
        goal: `≤ 30 KB`,
        measured: range(rss),
        sideBySide: `ws ${range(anchorRss)}; ${times(median(pick('faultline', 'rssPerConnection')) / median(pick('anchor', 'rssPerConnection')))}`,
        met: rss.median <= GOAL_BYTES,
      });
    });
    if (steps.length >= 2) {
      // The marginal cost between the first and the last step leaves out what the first connections
      // cost once (heap pages, buffers grown at first use).
      const first = steps[0]!;
      const last = steps[steps.length - 1]!;
      const marginal = (run: Step[], key: 'heapPerConnection' | 'rssPerConnection') =>
        (run[run.length - 1]![key] * last - run[0]![key] * first) / (last - first);
      for (const key of ['heapPerConnection', 'rssPerConnection'] as const) {
        const ours = summarize(runs.map((run) => marginal(run.faultline, key)));
        const theirs = summarize(runs.map((run) => marginal(run.anchor, key)));
        rows.push({
          metric: `${key === 'heapPerConnection' ? 'heap' : 'RSS'} per connection, marginal ${first.toLocaleString('en')}→${last.toLocaleString('en')}`,
          goal: '≤ 30 KB',
          measured: range(ours),
          sideBySide: `ws ${range(theirs)}; ${times(ours.median / theirs.median)}`,
          met: ours.median <= GOAL_BYTES,
        });
      }
    }
    return {
      name: 'memory',
      title: this.title,
      rows,
      notes: [
        `After a full GC (4× gc()), with the agents idle ${settleMs / 1000} s; RSS deltas include memory the allocator keeps after GC, so they are noisier than the heap figures.`,
      ],
      data: { trials, steps, runs },
    };
  },
};
