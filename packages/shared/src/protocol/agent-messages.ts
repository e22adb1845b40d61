import { z } from 'zod';
import { WireErrorSchema } from '../errors.js';
import { ActiveFaultSchema, CapabilitiesSchema, ContainerInfoSchema, RequestIdSchema, RevertCauseSchema } from './common.js';

/** First frame from an agent. */
export const HelloMessageSchema = z.object({
  type: z.literal('hello'),
  protocolVersion: z.number().int(),
  name: z.string().min(1).max(253),
  labels: z.record(z.string(), z.string()),
  version: z.string(),
  capabilities: CapabilitiesSchema,
  leaseTimeoutMs: z.number().int().positive(),
  activeFaults: z.array(ActiveFaultSchema),
});

/** Answer to `ping`. */
export const PongMessageSchema = z.object({ type: z.literal('pong'), ts: z.number() });

/** Answer to `list-containers`. */
export const ContainersMessageSchema = z.object({
  type: z.literal('containers'),
  id: RequestIdSchema,
  containers: z.array(ContainerInfoSchema),
});

/** Answer to `inject`: the fault is in place. */
export const InjectedMessageSchema = z.object({
  type: z.literal('injected'),
  id: RequestIdSchema,
  faultId: z.string(),
  appliedAt: z.number(),
  containerName: z.string(),
  details: z.record(z.string(), z.unknown()),
});

/** A fault was reverted: in answer to `revert` (with `id`) or on the agent's own (deadline, lease...). */
export const RevertedMessageSchema = z.object({
  type: z.literal('reverted'),
  id: RequestIdSchema.optional(),
  faultId: z.string(),
  revertedAt: z.number(),
  cause: RevertCauseSchema,
  error: WireErrorSchema.optional(),
});

/** Answer to `revert-all`. */
export const RevertedAllMessageSchema = z.object({
  type: z.literal('reverted-all'),
  id: RequestIdSchema,
  reverted: z.array(z.string()),
  failed: z.array(z.object({ faultId: z.string(), error: WireErrorSchema })),
});

/** Answer to `probe`: what the attempt observed on the agent's host. */
export const ProbeResultMessageSchema = z.object({
  type: z.literal('probe-result'),
  id: RequestIdSchema,
  ok: z.boolean(),
  output: z.string(),
  error: z.string().optional(),
  durationMs: z.number().nonnegative(),
});

/** An error, in reply to a request (`id`) or to an invalid frame. */
export const AgentErrorMessageSchema = z.object({
  type: z.literal('error'),
  id: RequestIdSchema.optional(),
  error: WireErrorSchema,
});

/** Every frame an agent sends to the controller. */
export const AgentMessageSchema = z.discriminatedUnion('type', [
  HelloMessageSchema,
  PongMessageSchema,
  ContainersMessageSchema,
  InjectedMessageSchema,
  RevertedMessageSchema,
  RevertedAllMessageSchema,
  ProbeResultMessageSchema,
  AgentErrorMessageSchema,
]);
/** A frame from an agent. */
export type AgentMessage = z.infer<typeof AgentMessageSchema>;
/** See {@link HelloMessageSchema}. */
export type HelloMessage = z.infer<typeof HelloMessageSchema>;
