import { formatDuration } from '../duration.js';

/** What one probe attempt observed; {@link runProbe} adds the bookkeeping fields. */
export interface ProbeOutcome {
  ok: boolean;
  /** What was observed, e.g. `HTTP 200 in 12ms`. */
  output: string;
  /** Why the attempt failed; set exactly when `ok` is false. */
  error?: string;
}

/** A failure with a message fit for the journal, thrown inside probe implementations. */
export class ProbeFailure extends Error {
  override readonly name = 'ProbeFailure';
}

/** Bytes of a response body or command output kept for checks; the rest is read and dropped. */
export const MAX_CAPTURE_BYTES = 1024 * 1024;

/**
 * An abort signal that fires at the probe's timeout or when `outer` aborts, and remembers which.
 * Call `dispose()` when the attempt is over.
 */
export interface Deadline {
  signal: AbortSignal;
  /** The message to report if the signal fired: `timed out after 2s` or `aborted`. */
  reason(): string;
  timedOut(): boolean;
  dispose(): void;
}

/** Creates a {@link Deadline} of `timeoutMs`, linked to `outer`. */
export function deadline(timeoutMs: number, outer?: AbortSignal): Deadline {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onOuterAbort = () => controller.abort();
  if (outer?.aborted) controller.abort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  return {
    signal: controller.signal,
    reason: () => (timedOut ? `timed out after ${formatDuration(timeoutMs)}` : 'aborted'),
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    },
  };
}

/** Turns a socket-level error into a short message, e.g. `connection refused (127.0.0.1:8080)`. */
export function describeNetworkError(error: unknown, where: string): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code ?? '') {
    case 'ECONNREFUSED':
      return `connection refused (${where})`;
    case 'ECONNRESET':
      return `connection reset by peer (${where})`;
    case 'EPIPE':
      return `connection closed by peer (${where})`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `cannot resolve host of ${where}`;
    case 'EHOSTUNREACH':
      return `host unreachable (${where})`;
    case 'ENETUNREACH':
      return `network unreachable (${where})`;
    case 'ETIMEDOUT':
      return `connection timed out (${where})`;
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_STATUS':
    case 'HPE_INVALID_HEADER_TOKEN':
      return `invalid HTTP response from ${where}`;
    default:
      if (typeof code === 'string' && (code.includes('CERT') || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL'))) {
        return `TLS error talking to ${where}: ${message}`;
      }
      return `${message} (${where})`;
  }
}

/** Quotes and shortens text for an error message. */
export function quote(text: string, max = 200): string {
  const short = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(short);
}
