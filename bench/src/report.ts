/** The shape of benchmark results, and the table printed at the end of a run. */

/** One line of the results table: a goal of the table and what was measured. */
export interface Row {
  /** What is measured, e.g. `fan-out p95, N=1,000`. */
  metric: string;
  /** The goal as the issue states it, e.g. `≤ 75 ms`; empty for context rows. */
  goal: string;
  /** The measured figure: median (min–max) over trials. */
  measured: string;
  /** The anchor measured side by side and the ratio, e.g. `ws 30.1 ms; ×1.4`. */
  sideBySide: string;
  /** True when the median meets the goal; null for rows without a goal. */
  met: boolean | null;
}

/** What one benchmark returns. */
export interface BenchResult {
  name: string;
  title: string;
  rows: Row[];
  /** Remarks for the reader (method details, caveats, where time goes). */
  notes: string[];
  /** Raw samples and summaries, for the JSON file. */
  data: Record<string, unknown>;
  /** Wall time of the benchmark, s. */
  seconds?: number;
}

/** The options every benchmark gets. */
export interface BenchContext {
  quick: boolean;
  /** Where results and profiles go. */
  outDir: string;
  /** Start child servers with --cpu-prof. */
  profile: boolean;
  /** Replaces the agent counts of the fan-out, halt and memory benchmarks (`--agents 1000,5000`). */
  agents?: number[];
  log: (line: string) => void;
}

/** A benchmark of the suite. */
export interface Bench {
  name: string;
  title: string;
  /** Needs the Docker engine. */
  docker: boolean;
  run(context: BenchContext): Promise<BenchResult>;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** A plain-text table of every row. */
export function formatTable(results: readonly BenchResult[]): string {
  const header = ['benchmark', 'metric', 'goal', 'measured: median (min–max)', 'side by side', 'goal met'];
  const lines: string[][] = [header];
  for (const result of results) {
    for (const row of result.rows) {
      lines.push([result.name, row.metric, row.goal, row.measured, row.sideBySide, row.met === null ? '' : row.met ? 'yes' : 'NO']);
    }
  }
  const widths = header.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)));
  const out = lines.map((line) => line.map((cell, column) => pad(cell, widths[column]!)).join('  ').trimEnd());
  out.splice(1, 0, widths.map((width) => '-'.repeat(width)).join('  '));
  return out.join('\n');
}

/** Milliseconds with sensible decimals. */
export function ms(value: number): string {
  if (value >= 100) return `${value.toFixed(0)} ms`;
  if (value >= 10) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(2)} ms`;
}

/** A median (min–max) of milliseconds. */
export function msRange(summary: { median: number; min: number; max: number }): string {
  return `${ms(summary.median)} (${ms(summary.min).replace(' ms', '')}–${ms(summary.max)})`;
}

/** ×1.23 */
export function times(ratio: number): string {
  return `×${ratio.toFixed(2)}`;
}
