import { describe, expect, it } from 'vitest';
import { median, pairedDifferences, pairedRatios, percentile, stddev, summarize, uniformHalfWidth } from '../src/stats.js';

// The benchmark harness reports medians, percentiles and side-by-side ratios: they must be right.

describe('percentile', () => {
  it('interpolates between closest ranks (type 7, as numpy and R)', () => {
    const values = [1, 2, 3, 4];
    expect(percentile(values, 0)).toBe(1);
    expect(percentile(values, 100)).toBe(4);
    expect(percentile(values, 50)).toBe(2.5);
    // rank (4 − 1) · 0.95 = 2.85 → 3 + 0.85 · (4 − 3)
    expect(percentile(values, 95)).toBeCloseTo(3.85, 12);
    expect(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90)).toBeCloseTo(91, 12);
  });

  it('does not depend on the order of the input and leaves it alone', () => {
    const values = [5, 1, 4, 2, 3];
    expect(percentile(values, 25)).toBe(2);
    expect(values).toEqual([5, 1, 4, 2, 3]);
  });

  it('refuses empty input, out-of-range percentiles and non-finite values', () => {
    expect(() => percentile([], 50)).toThrow(/no values/);
    expect(() => percentile([1], 101)).toThrow(/0..100/);
    expect(() => percentile([1, Number.NaN], 50)).toThrow(/finite/);
  });
});

describe('median and summarize', () => {
  it('takes the middle value, or the mean of the middle two', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('summarises min, max, mean, median, p95 and p99', () => {
    const values = Array.from({ length: 101 }, (_, i) => i); // 0..100
    expect(summarize(values)).toEqual({ n: 101, min: 0, max: 100, mean: 50, median: 50, p95: 95, p99: 99 });
  });

  it('computes the sample standard deviation', () => {
    expect(stddev([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(2.138, 3);
    expect(stddev([1])).toBe(0);
  });
});

describe('paired comparisons', () => {
  it('divides and subtracts trial by trial', () => {
    expect(pairedRatios([2, 9], [1, 3])).toEqual([2, 3]);
    expect(pairedDifferences([2, 9], [1, 3])).toEqual([1, 6]);
  });

  it('refuses lists of different lengths and zero denominators', () => {
    expect(() => pairedRatios([1], [1, 2])).toThrow(/length/);
    expect(() => pairedDifferences([1], [])).toThrow(/length/);
    expect(() => pairedRatios([1], [0])).toThrow(/zero/);
  });
});

describe('uniformHalfWidth', () => {
  it('recovers the half-width of a uniform distribution', () => {
    // Evenly spaced over [90, 110]: a uniform ±10 around 100.
    const values = Array.from({ length: 2001 }, (_, i) => 90 + i / 100);
    expect(uniformHalfWidth(values)).toBeCloseTo(10, 6);
  });

  it('is not moved by a few outliers', () => {
    const values = [...Array.from({ length: 1000 }, (_, i) => 80 + (i / 999) * 40), 5000, -5000];
    expect(uniformHalfWidth(values)).toBeGreaterThan(19);
    expect(uniformHalfWidth(values)).toBeLessThan(21);
  });
});
