/**
 * Durations as written in manifests and flags: one or more `<number><unit>` groups,
 * units `ms`, `s`, `m`, `h` (e.g. `500ms`, `30s`, `1m30s`, `1.5h`). Never negative.
 */
export const DURATION_PATTERN = '^(?:\\d+(?:\\.\\d+)?(?:ms|s|m|h))+$';

const DURATION_RE = new RegExp(DURATION_PATTERN);
const PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** True when `text` is a valid duration string. */
export function isDuration(text: string): boolean {
  return DURATION_RE.test(text);
}

/**
 * Parses a duration string into whole milliseconds.
 * @throws Error with a message that says what a valid duration looks like.
 */
export function parseDuration(text: string): number {
  if (!DURATION_RE.test(text)) {
    throw new Error(durationErrorMessage(text));
  }
  let total = 0;
  for (const match of text.matchAll(PART_RE)) {
    total += Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] ?? 1);
  }
  return Math.round(total);
}

/** The message used wherever a duration is rejected. */
export function durationErrorMessage(input: unknown): string {
  if (typeof input === 'string' && input.trim().startsWith('-')) {
    return `invalid duration "${input}": durations cannot be negative; write e.g. 500ms, 30s, 5m or 1h`;
  }
  if (typeof input !== 'string') {
    return `expected a duration string such as "500ms", "30s", "5m" or "1h", got ${typeof input}`;
  }
  return `invalid duration "${input}": use a number with a unit (ms, s, m, h), e.g. 500ms, 30s, 5m or 1h`;
}

/** Formats milliseconds compactly (`1500` → `1.5s`, `90000` → `1m30s`). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) {
    const seconds = Number((ms / 1000).toFixed(2));
    if (seconds < 60) return `${seconds}s`;
  }
  // Round to whole seconds first, then split, so 119.6 s is 2m, not 1m60s.
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}` || '0s';
}
