import type { z } from 'zod';
import { ErrorCode, type WireError } from '../errors.js';
import { AgentMessageSchema, type AgentMessage } from './agent-messages.js';
import { MAX_FRAME_BYTES } from './common.js';
import { ControllerMessageSchema, type ControllerMessage } from './controller-messages.js';

/** The outcome of decoding a frame. On failure, `id` is the request id if one could be read. */
export type Decoded<T> = { ok: true; message: T } | { ok: false; error: WireError; id?: string };

function decode<T>(schema: z.ZodType<T>, raw: string | Buffer | ArrayBuffer | Buffer[]): Decoded<T> {
  const text = toText(raw);
  if (Buffer.byteLength(text) > MAX_FRAME_BYTES) {
    return { ok: false, error: invalid(`frame of ${Buffer.byteLength(text)} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`) };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: invalid(`frame is not valid JSON: ${error instanceof Error ? error.message : String(error)}`) };
  }
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, message: result.data };
  const summary = result.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(frame)'}: ${issue.message}`)
    .join('; ');
  const decoded: Decoded<T> = { ok: false, error: invalid(`invalid frame: ${summary}`) };
  const id = (value as { id?: unknown } | null)?.id;
  if (typeof id === 'string' && id.length <= 128) decoded.id = id;
  return decoded;
}

function invalid(message: string): WireError {
  return { code: ErrorCode.InvalidFrame, message, retryable: false };
}

function toText(raw: string | Buffer | ArrayBuffer | Buffer[]): string {
  if (typeof raw === 'string') return raw;
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  if (raw instanceof ArrayBuffer) return Buffer.from(raw).toString('utf8');
  return raw.toString('utf8');
}

/** Validates a frame received by the controller. Never throws. */
export function decodeAgentMessage(raw: string | Buffer | ArrayBuffer | Buffer[]): Decoded<AgentMessage> {
  return decode(AgentMessageSchema, raw);
}

/** Validates a frame received by an agent. Never throws. */
export function decodeControllerMessage(raw: string | Buffer | ArrayBuffer | Buffer[]): Decoded<ControllerMessage> {
  return decode(ControllerMessageSchema, raw);
}

/** Serialises a frame. */
export function encodeMessage(message: AgentMessage | ControllerMessage): string {
  return JSON.stringify(message);
}
