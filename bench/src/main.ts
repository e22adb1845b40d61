/**
 * `pnpm bench [--quick] [--profile] [NAME...]`: runs Faultline's benchmarks (docs/benchmarks.md),
 * prints a table, and writes the results as JSON under bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { agentIdleBench } from './benches/agent-idle.js';
import { fanoutBench } from './benches/fanout.js';
import { haltBench } from './benches/halt.js';
import { killBench } from './benches/kill.js';
import { latencyBench } from './benches/latency.js';
import { memoryBench } from './benches/memory.js';
import { proxyContainerBench } from './benches/proxy-container.js';
import { proxyBench } from './benches/proxy.js';
import { loadAverage, machine } from './machine.js';
import { cleanUpAll, ROOT } from './proc.js';
import { formatTable, type Bench, type BenchContext, type BenchResult } from './report.js';

const BENCHES: Bench[] = [fanoutBench, haltBench, memoryBench, agentIdleBench, proxyBench, proxyContainerBench, latencyBench, killBench];

function usage(): string {
  return `Usage: pnpm bench [--quick] [--profile] [--out DIR] [NAME...]

Runs Faultline's benchmarks and prints medians (min–max) over repeated trials, side by side with
their anchors measured in the same run. Results go to bench/results/ as JSON.

  --quick      fewer trials and shorter windows (the whole suite in a few minutes)
  --profile    start the child servers with node --cpu-prof (profiles under <out>/profiles)
  --out DIR    results directory (default bench/results)
  --agents N,M agent counts for fanout, halt and memory (default: each benchmark's own)
  --list       list the benchmarks

Benchmarks: ${BENCHES.map((bench) => bench.name).join(', ')} (default: all)
`;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      out: { type: 'string', default: join(ROOT, 'bench/results') },
      list: { type: 'boolean', default: false },
      agents: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(usage());
    return 0;
  }
  if (values.list) {
    for (const bench of BENCHES) process.stdout.write(`${bench.name.padEnd(16)} ${bench.title}${bench.docker ? ' (Docker)' : ''}\n`);
    return 0;
  }
  const unknown = positionals.filter((name) => !BENCHES.some((bench) => bench.name === name));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHES.map((bench) => bench.name).join(', ')}\n`);
    return 2;
  }
  const selected = positionals.length === 0 ? BENCHES : BENCHES.filter((bench) => positionals.includes(bench.name));
  const outDir = values.out;
  mkdirSync(outDir, { recursive: true });
  const context: BenchContext = {
    quick: values.quick,
    outDir,
    profile: values.profile,
    log: (line) => process.stderr.write(`${line}\n`),
  };
  if (values.agents !== undefined) {
    const agents = values.agents.split(',').map(Number);
    if (agents.some((n) => !Number.isInteger(n) || n < 1)) {
      process.stderr.write(`--agents: write counts like 1000,5000\n`);
      return 2;
    }
    context.agents = agents;
  }

  const host = machine();
  const loadStart = loadAverage();
  const startedAt = new Date();
  context.log(`machine: ${host.cpuModel}, ${host.cores} cores, Node ${host.node}, load ${loadStart.map((l) => l.toFixed(2)).join(' ')}`);
  const results: BenchResult[] = [];
  const failures: { name: string; error: string }[] = [];
  for (const bench of selected) {
    context.log(`== ${bench.name}: ${bench.title}${values.quick ? ' (quick)' : ''}`);
    const began = performance.now();
    try {
      const result = await bench.run(context);
      result.seconds = Math.round((performance.now() - began) / 100) / 10;
      results.push(result);
      context.log(`== ${bench.name} done in ${result.seconds} s`);
    } catch (error) {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      failures.push({ name: bench.name, error: text });
      context.log(`== ${bench.name} FAILED: ${text}`);
    }
  }
  const loadEnd = loadAverage();
  const report = {
    command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
    quick: values.quick,
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    machine: host,
    loadAverage: { start: loadStart, end: loadEnd },
    results,
    failures,
  };
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const file = join(outDir, `${stamp}${positionals.length > 0 ? `-${positionals.join('-')}` : ''}${values.quick ? '-quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);

  const out: string[] = [];
  out.push('');
  out.push(`Faultline benchmarks${values.quick ? ' (quick)' : ''} — ${host.cpuModel}, ${host.cores} cores, Node ${host.node}`);
  out.push(`load average at start ${loadStart.map((l) => l.toFixed(2)).join(' ')}, at end ${loadEnd.map((l) => l.toFixed(2)).join(' ')}`);
  out.push('');
  out.push(formatTable(results));
  for (const result of results) {
    if (result.notes.length === 0) continue;
    out.push('');
    out.push(`${result.name}:`);
    for (const note of result.notes) out.push(`  - ${note}`);
  }
  for (const failure of failures) out.push(`\n${failure.name} FAILED: ${failure.error.split('\n')[0]}`);
  out.push('');
  out.push(`results: ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return failures.length > 0 ? 1 : 0;
}

process.on('SIGINT', () => {
  cleanUpAll();
  process.exit(130);
});
process.on('SIGTERM', () => {
  cleanUpAll();
  process.exit(143);
});

main().then(
  (code) => {
    cleanUpAll();
    process.exit(code);
  },
  (error: unknown) => {
    cleanUpAll();
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
