/**
 * Statistics of the benchmark harness. Every figure the suite reports is a summary of repeated
 * samples (median with min and max), never one measurement, and every comparison is a ratio of
 * figures measured in the same run.
 */

/** A summary of samples. */
export interface Summary {
  n: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  p95: number;
  p99: number;
}

function sortedCopy(values: readonly number[]): number[] {
  for (const value of values) if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
  return [...values].sort((a, b) => a - b);
}

/**
 * The p-th percentile (0 ≤ p ≤ 100) of `values`, interpolated linearly between the closest ranks
 * (Hyndman and Fan's type 7, the default of numpy and R): for n sorted values the rank is
 * (n − 1)·p/100. Throws on an empty list.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of no values');
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile must be within 0..100, got ${p}`);
  const sorted = sortedCopy(values);
  const rank = ((sorted.length - 1) * p) / 100;
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const lowValue = sorted[low]!;
  return lowValue + (sorted[high]! - lowValue) * (rank - low);
}

/** The median (the 50th percentile, the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Summarises samples; throws on an empty list. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new Error('summary of no values');
  const sorted = sortedCopy(values);
  return {
    n: sorted.length,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((sum, value) => sum + value, 0) / sorted.length,
    median: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
}

/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export function stddev(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const squares = values.reduce((sum, value) => sum + (value - mean) ** 2, 0);
  return Math.sqrt(squares / (values.length - 1));
}

/**
 * Per-trial ratios a[i] / b[i] of paired measurements (same trial, side by side). Throws when the
 * lists differ in length or a denominator is zero.
 */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new Error(`paired lists differ in length: ${a.length} and ${b.length}`);
  return a.map((value, index) => {
    const denominator = b[index]!;
    if (denominator === 0) throw new Error(`zero denominator at trial ${index}`);
    return value / denominator;
  });
}

/** Per-trial differences a[i] − b[i] of paired measurements. */
export function pairedDifferences(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new Error(`paired lists differ in length: ${a.length} and ${b.length}`);
  return a.map((value, index) => value - b[index]!);
}

/**
 * The half-width of a uniform distribution estimated from samples: the spread between the 5th and
 * 95th percentiles covers 90 % of a uniform [c − w, c + w], i.e. 1.8·w. Robust to a few outliers,
 * unlike (max − min)/2.
 */
export function uniformHalfWidth(values: readonly number[]): number {
  return (percentile(values, 95) - percentile(values, 5)) / 1.8;
}

/** "12.3 (min 10.1, max 15.0)" with `digits` decimals. */
export function formatSummary(summary: Pick<Summary, 'median' | 'min' | 'max'>, digits = 1, unit = ''): string {
  const f = (value: number): string => `${value.toFixed(digits)}${unit}`;
  return `${f(summary.median)} (${f(summary.min)}–${f(summary.max)})`;
}
