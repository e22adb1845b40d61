/**
 * Kept free of workspace imports on purpose: the latency proxy program (latency-proxy-main.ts) loads
 * this module through iptables.ts and must run from its own file with Node built-ins only.
 *
 * Error codes used by the agent's host adapters and fault drivers. The strings are the same as
 * `ErrorCode` in `@faultline/shared`, so an {@link AgentError} normalises to the wire payload
 * `{code, message, retryable, details}` unchanged.
 */
export const AgentErrorCode = {
  InvalidRequest: 'invalid_request',
  NotFound: 'not_found',
  Conflict: 'conflict',
  Unsupported: 'unsupported',
  FaultFailed: 'fault_failed',
  RevertFailed: 'revert_failed',
  Timeout: 'timeout',
  Aborted: 'aborted',
  Internal: 'internal',
} as const;

export type AgentErrorCode = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

/** A local agent error with a stable string code. */
export class AgentError extends Error {
  override readonly name = 'AgentError';
  readonly code: AgentErrorCode;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: AgentErrorCode, message: string, options: { retryable?: boolean; details?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
