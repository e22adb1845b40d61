import { z } from 'zod';

/** Every error code Faultline uses, locally and on the wire. Documented in docs/errors.md. */
export const ErrorCode = {
  InvalidManifest: 'invalid_manifest',
  InvalidRequest: 'invalid_request',
  InvalidFrame: 'invalid_frame',
  ProtocolVersion: 'protocol_version',
  Unauthorized: 'unauthorized',
  RateLimited: 'rate_limited',
  NotFound: 'not_found',
  Conflict: 'conflict',
  Halted: 'halted',
  NoTargets: 'no_targets',
  TooManyTargets: 'too_many_targets',
  Unsupported: 'unsupported',
  FaultFailed: 'fault_failed',
  RevertFailed: 'revert_failed',
  AgentLost: 'agent_lost',
  AgentUnavailable: 'agent_unavailable',
  Timeout: 'timeout',
  Aborted: 'aborted',
  Internal: 'internal',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const ERROR_CODES = Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]];

/** Schema of an error code string. */
export const ErrorCodeSchema = z.enum(ERROR_CODES);

/** The error payload carried in wire frames and REST answers. */
export const WireErrorSchema = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  retryable: z.boolean(),
  details: z.unknown().optional(),
});
/** An error payload, see {@link WireErrorSchema}. */
export type WireError = z.infer<typeof WireErrorSchema>;

/** A local error with a stable code. `retryable` defaults to false. */
export class FaultlineError extends Error {
  override readonly name = 'FaultlineError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; details?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  /** Rebuilds a local error from a wire payload. */
  static fromWire(error: WireError): FaultlineError {
    return new FaultlineError(error.code, error.message, { retryable: error.retryable, details: error.details });
  }
}

/** Normalises anything thrown into a wire error payload. Unknown errors become `internal`. */
export function toWireError(error: unknown): WireError {
  if (error instanceof FaultlineError) {
    const wire: WireError = { code: error.code, message: error.message, retryable: error.retryable };
    if (error.details !== undefined) wire.details = error.details;
    return wire;
  }
  const parsed = WireErrorSchema.safeParse(error);
  if (parsed.success) return parsed.data;
  if (error instanceof Error) return { code: ErrorCode.Internal, message: error.message, retryable: false };
  return { code: ErrorCode.Internal, message: String(error), retryable: false };
}

/** The message of anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
