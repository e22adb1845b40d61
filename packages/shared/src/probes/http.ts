import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { formatDuration, parseDuration } from '../duration.js';
import type { HttpProbe } from '../manifest/probes.js';
import { deadline, describeNetworkError, MAX_CAPTURE_BYTES, ProbeFailure, quote, type ProbeOutcome } from './common.js';

/** A request made by a probe. */
export interface ProbeHttpRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** A response read completely (body capped at 1 MiB). */
export interface ProbeHttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** From sending the request to the last byte of the body. */
  latencyMs: number;
}

/**
 * Sends one request on a fresh connection (no keep-alive, so every attempt sees injected network
 * faults) and reads the whole response within `timeoutMs`.
 * @throws ProbeFailure with a message such as `connection refused (127.0.0.1:8080)` or `timed out after 2s`.
 */
export async function probeHttpRequest(req: ProbeHttpRequest): Promise<ProbeHttpResponse> {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw new ProbeFailure(`invalid URL ${quote(req.url)}`);
  }
  const where = url.host;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const limit = deadline(req.timeoutMs, req.signal);
  const started = performance.now();
  const headers: Record<string, string> = { 'user-agent': 'faultline-probe', ...req.headers, connection: 'close' };
  if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
  try {
    return await new Promise<ProbeHttpResponse>((resolve, reject) => {
      const fail = (error: unknown) =>
        reject(new ProbeFailure(limit.signal.aborted ? limit.reason() : describeNetworkError(error, where)));
      const clientRequest = send(url, { method: req.method ?? 'GET', headers, agent: false, signal: limit.signal }, (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept >= MAX_CAPTURE_BYTES) return;
          const part = chunk.subarray(0, MAX_CAPTURE_BYTES - kept);
          chunks.push(part);
          kept += part.length;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            latencyMs: Math.round(performance.now() - started),
          }),
        );
        res.on('error', fail);
        // A connection that closes mid-body ends without 'end'; resolve/reject settle only once.
        res.on('close', () => {
          if (!res.complete) fail(Object.assign(new Error('connection closed before the response was complete'), { code: 'ECONNRESET' }));
        });
      });
      clientRequest.on('error', fail);
      clientRequest.end(req.body);
    });
  } finally {
    limit.dispose();
  }
}

/** Runs an `http` probe: status, `maxLatency` and `bodyContains` checks. */
export async function runHttpProbe(probe: HttpProbe, signal?: AbortSignal): Promise<ProbeOutcome> {
  const timeoutMs = parseDuration(probe.timeout);
  let res: ProbeHttpResponse;
  try {
    res = await probeHttpRequest({
      url: probe.url,
      method: probe.method,
      headers: probe.headers,
      body: probe.body,
      timeoutMs,
      signal,
    });
  } catch (error) {
    const message = error instanceof ProbeFailure ? error.message : describeNetworkError(error, probe.url);
    return { ok: false, output: `no response from ${probe.method} ${probe.url}: ${message}`, error: message };
  }
  const output = `HTTP ${res.status} in ${res.latencyMs}ms`;
  const problems: string[] = [];
  const expectedStatus = probe.expect.status;
  if (!statusMatches(expectedStatus, res.status)) {
    problems.push(`expected status ${describeStatus(expectedStatus)}, got ${res.status}`);
  }
  if (probe.expect.maxLatency !== undefined) {
    const maxMs = parseDuration(probe.expect.maxLatency);
    if (res.latencyMs > maxMs) problems.push(`took ${res.latencyMs}ms, over maxLatency ${formatDuration(maxMs)}`);
  }
  if (probe.expect.bodyContains !== undefined && !res.body.includes(probe.expect.bodyContains)) {
    problems.push(`body does not contain ${quote(probe.expect.bodyContains)}`);
  }
  return problems.length === 0 ? { ok: true, output } : { ok: false, output, error: problems.join('; ') };
}

/** True when `status` satisfies the expectation: a code, a list of codes, or a class like `2xx`. */
export function statusMatches(expected: HttpProbe['expect']['status'], status: number): boolean {
  if (typeof expected === 'number') return status === expected;
  if (Array.isArray(expected)) return expected.includes(status);
  return String(status)[0] === expected[0] && status >= 100 && status <= 599;
}

function describeStatus(expected: HttpProbe['expect']['status']): string {
  if (Array.isArray(expected)) {
    return expected.length === 1 ? String(expected[0]) : `${expected.slice(0, -1).join(', ')} or ${String(expected.at(-1))}`;
  }
  return String(expected);
}
