import { parseDuration } from '../duration.js';
import type { Probe } from '../manifest/probes.js';
import { ProbeFailure, quote, type ProbeOutcome } from './common.js';
import { probeHttpRequest } from './http.js';

/** A `prometheus` probe. */
export type PrometheusProbe = Extract<Probe, { type: 'prometheus' }>;

const COMPARISONS = [
  ['lt', '<', (a: number, b: number) => a < b],
  ['lte', '<=', (a: number, b: number) => a <= b],
  ['gt', '>', (a: number, b: number) => a > b],
  ['gte', '>=', (a: number, b: number) => a >= b],
  ['eq', '==', (a: number, b: number) => a === b],
] as const;

/**
 * Runs a `prometheus` probe: an instant query whose first value (of a vector, or the scalar) must
 * satisfy every given comparison.
 */
export async function runPrometheusProbe(probe: PrometheusProbe, signal?: AbortSignal): Promise<ProbeOutcome> {
  const url = `${probe.url.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(probe.query)}`;
  let value: number;
  let latencyMs: number;
  try {
    const res = await probeHttpRequest({
      url,
      headers: { accept: 'application/json' },
      timeoutMs: parseDuration(probe.timeout),
      signal,
    });
    latencyMs = res.latencyMs;
    value = extractValue(res.status, res.body);
  } catch (error) {
    const message = (error as Error).message;
    return { ok: false, output: `no value for ${quote(probe.query)}: ${message}`, error: message };
  }
  const output = `query returned ${value} in ${latencyMs}ms`;
  const problems: string[] = [];
  for (const [key, symbol, holds] of COMPARISONS) {
    const bound = probe.expect[key];
    if (bound !== undefined && !holds(value, bound)) problems.push(`expected value ${symbol} ${bound}, got ${value}`);
  }
  return problems.length === 0 ? { ok: true, output } : { ok: false, output, error: problems.join('; ') };
}

/** Reads the first sample of a Prometheus instant-query answer. */
function extractValue(status: number, body: string): number {
  let answer: unknown;
  try {
    answer = JSON.parse(body);
  } catch {
    throw new ProbeFailure(`Prometheus answered HTTP ${status} with a body that is not JSON: ${quote(body, 120)}`);
  }
  const record = isRecord(answer) ? answer : {};
  if (status < 200 || status > 299 || record.status !== 'success') {
    const detail = typeof record.error === 'string' ? record.error : `status ${JSON.stringify(record.status)}`;
    throw new ProbeFailure(`Prometheus answered HTTP ${status}: ${detail}`);
  }
  const data = isRecord(record.data) ? record.data : {};
  const result = data.result;
  let sample: unknown;
  switch (data.resultType) {
    case 'vector':
      if (!Array.isArray(result) || result.length === 0) throw new ProbeFailure('the query returned no series');
      sample = isRecord(result[0]) ? result[0].value : undefined;
      break;
    case 'scalar':
      sample = result;
      break;
    default:
      throw new ProbeFailure(
        `the query returned a ${String(data.resultType)}, expected an instant vector or a scalar`,
      );
  }
  const raw = Array.isArray(sample) ? (sample[1] as unknown) : undefined;
  const value = typeof raw === 'string' ? Number(raw) : NaN;
  if (typeof raw !== 'string' || (Number.isNaN(value) && raw !== 'NaN')) {
    throw new ProbeFailure(`unexpected sample in the Prometheus answer: ${quote(JSON.stringify(sample), 120)}`);
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
