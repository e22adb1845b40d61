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
import type { RpcChild } from '../proc.js';
import { startServer } from '../servers.js';
import { summarize } from '../stats.js';

interface Usage {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

interface Step {
  agents: number;
  /** V8 heap used. */
  heapPerConnection: number;
  /** Heap used plus external memory (Buffers: socket and frame buffers). */
  jsPerConnection: number;
  rssPerConnection: number;
}

type Key = 'heapPerConnection' | 'jsPerConnection' | 'rssPerConnection';

const GOAL_BYTES = 30 * 1024;
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;
/** `×1.23`, or nothing when the anchor's figure is too small to divide by (RSS noise). */
const ratio = (ours: number, theirs: number): string => (theirs > 512 ? `; ${times(ours / theirs)}` : '');

/**
 * Memory after a full GC, once RSS holds still: V8 returns freed memory to the system some seconds
 * after a GC (RSS fell by 10 MB between 2 and 6 s after start-up here), so one early reading would
 * skew every delta.
 */
async function steady(server: RpcChild): Promise<Usage> {
  let last = await server.call<Usage>('memory');
  for (let i = 0; i < 10; i += 1) {
    await sleep(2000);
    const next = await server.call<Usage>('memory');
    const still = Math.abs(next.rss - last.rss) < 256 * 1024;
    last = next;
    if (still) break;
  }
  return last;
}

async function measure(kind: 'faultline' | 'anchor', steps: number[], settleMs: number): Promise<Step[]> {
  // V8 drops the bytecode of functions unused for a while (here: the half of server-host.js the
  // other kind uses), which shrinks RSS during the measurement: keep it, so that deltas are the
  // connections' alone.
  const server = await startServer(`memory-${kind}`, ['--no-flush-bytecode']);
  const fleets: (AgentFleet | AnchorFleet)[] = [];
  try {
    const connected = () => server.call<number>('connected');
    const start = kind === 'faultline' ? await server.call<{ url: string; agentToken: string }>('start-controller') : await server.call<{ url: string }>('start-anchor');
    const base = await steady(server);
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
      const usage = await steady(server);
      result.push({
        agents: target,
        heapPerConnection: (usage.heapUsed - base.heapUsed) / target,
        jsPerConnection: (usage.heapUsed + usage.external - base.heapUsed - base.external) / target,
        rssPerConnection: (usage.rss - base.rss) / target,
      });
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
      for (const [name, run] of [['faultline', faultline], ['ws', anchor]] as const) {
        for (const step of run) {
          context.log(`  ${name} ${step.agents}: heap ${kb(step.heapPerConnection)}, heap + external ${kb(step.jsPerConnection)}, RSS ${kb(step.rssPerConnection)} per connection`);
        }
      }
      runs.push({ faultline, anchor });
    }
    const rows: Row[] = [];
    const range = (s: { median: number; min: number; max: number }) => `${kb(s.median)} (${(s.min / 1024).toFixed(1)}–${kb(s.max)})`;
    const last = steps.length - 1;
    const row = (metric: string, ours: number[], theirs: number[], goal = '≤ 30 KB'): void => {
      const a = summarize(ours);
      const b = summarize(theirs);
      rows.push({ metric, goal, measured: range(a), sideBySide: `ws ${range(b)}${ratio(a.median, b.median)}`, met: a.median <= GOAL_BYTES });
    };
    const pick = (kind: 'faultline' | 'anchor', index: number, key: Key) => runs.map((run) => run[kind][index]![key]);
    steps.forEach((agents, index) => {
      row(`heap + external per connection, ${agents.toLocaleString('en')} agents`, pick('faultline', index, 'jsPerConnection'), pick('anchor', index, 'jsPerConnection'), '≤ 30 KB (ws: ~23–25 KB)');
    });
    // RSS deltas carry a few MB of noise (memory returned or kept by the allocator): only the
    // largest step, and the marginal cost between the first and the last, say something per connection.
    row(`RSS per connection, ${steps[last]!.toLocaleString('en')} agents`, pick('faultline', last, 'rssPerConnection'), pick('anchor', last, 'rssPerConnection'));
    if (steps.length >= 2) {
      const first = steps[0]!;
      const marginal = (run: Step[], key: Key) => (run[last]![key] * steps[last]! - run[0]![key] * first) / (steps[last]! - first);
      const label = `${first.toLocaleString('en')}→${steps[last]!.toLocaleString('en')}`;
      row(`heap + external per connection, marginal ${label}`, runs.map((run) => marginal(run.faultline, 'jsPerConnection')), runs.map((run) => marginal(run.anchor, 'jsPerConnection')));
      row(`RSS per connection, marginal ${label}`, runs.map((run) => marginal(run.faultline, 'rssPerConnection')), runs.map((run) => marginal(run.anchor, 'rssPerConnection')));
    }
    return {
      name: 'memory',
      title: this.title,
      rows,
      notes: [
        `Each figure after a full GC (4× gc()) once RSS holds still (two readings 2 s apart within 256 KB), with the agents idle ${settleMs / 1000} s before; ` +
          'RSS deltas include what the allocator keeps or has not yet returned, ' +
          'so they are noisier than the heap figures, most at the first step; the marginal rows (first→last step) leave out one-time growth.',
      ],
      data: { trials, steps, runs },
    };
  },
};
