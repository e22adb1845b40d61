/**
 * Fan-out: one fault command from the controller, acknowledged by N agents.
 *
 * Faultline: the real controller (createController, in a child process) sends one `inject`
 * (container-kill, instant) to each of N real agents (one process, in-memory host adapters) through
 * `hub.inject`, all at once as a run's fault step does; a fan-out is complete when the last
 * `injected` reply is back. Anchor: a bare `ws` server (another child process) sends one frame to N
 * bare `ws` clients that each answer an ack. Both fleets are connected at once and the trials
 * alternate anchor and Faultline, so both see the same machine load; both are timed on their
 * server's clock. p95 is over the fan-outs of a block; blocks give the median (min–max).
 *
 * A third kind, interleaved too, splits the cost: the real controller with thin agents (bare ws
 * clients that answer `injected` at once, without the agent's code).
 */
import { sleep } from '../proc.js';
import { ms, msRange, times, type Bench, type BenchContext, type Row } from '../report.js';
import type { FanoutResult } from '../server-host.js';
import { profileLine, profiled, startPair, type Pair } from '../servers.js';
import { median, pairedRatios, percentile, summarize } from '../stats.js';

const GOALS: Record<number, number> = { 1000: 75, 5000: 300 };
const ANCHOR_NOTE: Record<number, string> = { 1000: '73 ms p95 at 1k', 5000: '361 ms p95 at 10k' };

type Kind = 'faultline' | 'anchor' | 'thin';
const KINDS: Kind[] = ['anchor', 'faultline', 'thin'];

interface Samples {
  completions: number[];
  ackP50: number[];
  ackP95: number[];
  serverCpuMs: number;
  fleetCpuMs: number;
  failed: number;
}

const emptySamples = (): Samples => ({ completions: [], ackP50: [], ackP95: [], serverCpuMs: 0, fleetCpuMs: 0, failed: 0 });

function processCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

function serverOf(pair: Pair, kind: Kind): Pair['anchor']['server'] {
  if (kind === 'thin') {
    if (!pair.thin) throw new Error('no thin fleet');
    return pair.thin.server;
  }
  return kind === 'faultline' ? pair.faultline.server : pair.anchor.server;
}

/** One fan-out of `kind`, added to `into` (unless a warm-up). */
async function fanout(pair: Pair, kind: Kind, n: number, trial: number, into: Samples | null): Promise<void> {
  const server = serverOf(pair, kind);
  const fleet0 = processCpuMs();
  const result = await server.call<FanoutResult>('fanout', { trial });
  const fleetSpent = processCpuMs() - fleet0;
  // Let the last replies and any garbage collection settle between fan-outs.
  await sleep(50);
  if (result.acksMs.length + result.failed !== n) throw new Error(`${kind} fan-out ${trial}: ${result.acksMs.length} acks and ${result.failed} failures of ${n}`);
  if (!into) return;
  into.failed += result.failed;
  into.completions.push(result.completionMs);
  into.ackP50.push(percentile(result.acksMs, 50));
  into.ackP95.push(percentile(result.acksMs, 95));
  into.serverCpuMs += result.serverCpuMs;
  into.fleetCpuMs += fleetSpent;
}

async function measureSize(context: BenchContext, n: number, blocks: number, perBlock: number): Promise<{ rows: Row[]; notes: string[]; data: unknown }> {
  context.log(`fan-out N=${n}: connecting ${n} agents, ${n} ws clients and ${n} thin agents`);
  const pair = await startPair(n, `fanout-${n}`, { thin: true });
  const blockSamples: Record<Kind, Samples>[] = [];
  const notes: string[] = [];
  let trial = 1;
  try {
    for (let warm = 0; warm < 3; warm += 1) for (const kind of KINDS) await fanout(pair, kind, n, trial++, null);
    for (let block = 0; block < blocks; block += 1) {
      const samples: Record<Kind, Samples> = { faultline: emptySamples(), anchor: emptySamples(), thin: emptySamples() };
      for (let i = 0; i < perBlock; i += 1) {
        // Rotate the order so that no kind always follows the same one.
        const order = KINDS.map((_, k) => KINDS[(k + i) % KINDS.length]!);
        for (const kind of order) await fanout(pair, kind, n, trial++, samples[kind]);
      }
      context.log(
        `  block ${block + 1}/${blocks}: p95 Faultline ${ms(percentile(samples.faultline.completions, 95))}, ws ${ms(percentile(samples.anchor.completions, 95))}, ` +
          `controller with thin agents ${ms(percentile(samples.thin.completions, 95))}`,
      );
      blockSamples.push(samples);
    }
    if (context.profile) {
      // Separate, unmeasured blocks: a profile of each kind alone.
      for (const kind of KINDS) {
        const server = serverOf(pair, kind);
        const { profiles } = await profiled(context, server, `fanout-${kind}-${n}`, async () => {
          for (let i = 0; i < 10; i += 1) await fanout(pair, kind, n, trial++, null);
        });
        for (const file of profiles) notes.push(`profile (${kind}, N=${n}, 10 fan-outs): ${profileLine(file)}`);
      }
    }
  } finally {
    await pair.close();
  }

  const p95Of = (kind: Kind) => blockSamples.map((samples) => percentile(samples[kind].completions, 95));
  const faultline = summarize(p95Of('faultline'));
  const anchor = summarize(p95Of('anchor'));
  const ratios = summarize(pairedRatios(p95Of('faultline'), p95Of('anchor')));
  const goal = GOALS[n];
  const rows: Row[] = [
    {
      metric: `p95 to the last ack, N=${n.toLocaleString('en')}`,
      goal: goal === undefined ? '' : `≤ ${goal} ms (anchor ${ANCHOR_NOTE[n]})`,
      measured: msRange(faultline),
      sideBySide: `ws ${msRange(anchor)}; ${times(ratios.median)} (${ratios.min.toFixed(2)}–${ratios.max.toFixed(2)})`,
      met: goal === undefined ? null : faultline.median <= goal,
    },
    {
      metric: `p95, the controller with thin agents, N=${n.toLocaleString('en')}`,
      goal: '',
      measured: msRange(summarize(p95Of('thin'))),
      sideBySide: `${times(median(pairedRatios(p95Of('thin'), p95Of('anchor'))))} ws; Faultline agents add ${times(median(pairedRatios(p95Of('faultline'), p95Of('thin'))))}`,
      met: null,
    },
    {
      metric: `median ack within a fan-out, N=${n.toLocaleString('en')}`,
      goal: '',
      measured: msRange(summarize(blockSamples.map((samples) => median(samples.faultline.ackP50)))),
      sideBySide: `ws ${msRange(summarize(blockSamples.map((samples) => median(samples.anchor.ackP50))))}`,
      met: null,
    },
  ];
  const perAck = (kind: Kind, key: 'serverCpuMs' | 'fleetCpuMs') =>
    (median(blockSamples.map((samples) => samples[kind][key] / samples[kind].completions.length)) / n) * 1000;
  notes.unshift(
    `N=${n}: CPU per acknowledged command — controller ${perAck('faultline', 'serverCpuMs').toFixed(1)} µs (with thin agents ${perAck('thin', 'serverCpuMs').toFixed(1)} µs) ` +
      `vs ws server ${perAck('anchor', 'serverCpuMs').toFixed(1)} µs; agents ${perAck('faultline', 'fleetCpuMs').toFixed(1)} µs vs thin agents ${perAck('thin', 'fleetCpuMs').toFixed(1)} µs ` +
      `vs ws clients ${perAck('anchor', 'fleetCpuMs').toFixed(1)} µs (all N agents share one process here, so their work is serialised on one core; on a fleet each host does its own).`,
  );
  const failed = blockSamples.reduce((sum, samples) => sum + samples.faultline.failed, 0);
  if (failed > 0) notes.push(`N=${n}: ${failed} inject requests failed`);
  return { rows, notes, data: { n, perBlock, blocks: blockSamples } };
}

export const fanoutBench: Bench = {
  name: 'fanout',
  title: 'Fan-out: a fault command acknowledged by N agents',
  docker: false,
  async run(context) {
    const blocks = context.quick ? 2 : 5;
    // Fan-outs per kind and block: fewer for large fleets, whose fan-outs take a second or more here.
    const perBlockFor = (n: number): number => (context.quick ? (n > 2000 ? 8 : 12) : n > 2000 ? 15 : 30);
    const rows: Row[] = [];
    const notes: string[] = [];
    const data: Record<string, unknown> = { blocks };
    for (const n of context.agents ?? [1000, 5000]) {
      const perBlock = perBlockFor(n);
      const result = await measureSize(context, n, blocks, perBlock);
      rows.push(...result.rows);
      notes.push(...result.notes);
      data[`n${n}`] = result.data;
    }
    return { name: 'fanout', title: this.title, rows, notes, data };
  },
};
