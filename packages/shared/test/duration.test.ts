import { describe, expect, it } from 'vitest';
import { formatDuration, isDuration, parseDuration } from '../src/index.js';

describe('durations', () => {
  it('parses units and combinations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1.5s')).toBe(1500);
  });
  it('rejects negatives and junk with a helpful message', () => {
    expect(() => parseDuration('-5s')).toThrow(/cannot be negative/);
    expect(() => parseDuration('5')).toThrow(/unit/);
    expect(isDuration('5 s')).toBe(false);
  });
  it('formats compactly', () => {
    expect(formatDuration(1500)).toBe('1.5s');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(250)).toBe('250ms');
  });
  it('never writes 60 seconds or 60 minutes when rounding up', () => {
    expect(formatDuration(59_999)).toBe('1m');
    expect(formatDuration(119_600)).toBe('2m');
    expect(formatDuration(3_599_600)).toBe('1h');
    expect(formatDuration(3_661_000)).toBe('1h1m1s');
  });
});
