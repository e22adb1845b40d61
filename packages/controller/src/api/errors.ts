import { ErrorCode, toWireError, type WireError } from '@faultline/shared';

const STATUS: Partial<Record<WireError['code'], number>> = {
  [ErrorCode.InvalidManifest]: 400,
  [ErrorCode.InvalidRequest]: 400,
  [ErrorCode.Unauthorized]: 401,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.Halted]: 409,
};

/** The REST error body: `{error, code, details}` (SPEC §5), and its HTTP status. */
export function httpError(error: unknown): { status: number; body: { error: string; code: string; details: unknown[] } } {
  const wire = toWireError(error);
  const details = Array.isArray(wire.details) ? (wire.details as unknown[]) : [];
  return { status: STATUS[wire.code] ?? 500, body: { error: wire.message, code: wire.code, details } };
}
