import type { FastifyRequest } from 'fastify';
import { ErrorCode, FaultlineError } from '@faultline/shared';

/** A stored experiment's or game day's name: a DNS label. */
const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The 404 for a `kind` (e.g. `'experiment'`) named `name` that is not there. */
export function notFound(kind: string, name: string): FaultlineError {
  return new FaultlineError(ErrorCode.NotFound, `${kind} ${JSON.stringify(name)} does not exist`);
}

/** The 400 for a request field at `path` that is wrong, with a detail entry for it. */
export function invalid(path: string, message: string): FaultlineError {
  return new FaultlineError(ErrorCode.InvalidRequest, `${path}: ${message}`, { details: [{ path, message }] });
}

/** Returns `name` if it is a valid experiment or game-day name; throws a 400 otherwise. */
export function checkName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw invalid('name', "use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit");
  }
  return name;
}

/** The request body as text (an empty string when the body is empty); throws a 400 when there is none. */
export function bodyText(request: FastifyRequest): string {
  const body = request.body;
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  if (body === undefined || body === null) throw invalid('body', 'send the manifest as YAML or JSON');
  return JSON.stringify(body);
}

/** The request body parsed as a JSON object; `{}` when there is no body. Throws a 400 otherwise. */
export function jsonBody(request: FastifyRequest): Record<string, unknown> {
  const text = request.body === undefined || request.body === null ? '' : bodyText(request);
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid('body', `not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('body', 'expected a JSON object');
  return value as Record<string, unknown>;
}
