import { z } from 'zod';
import { ContainerSelectorSchema } from '../manifest/common.js';
import { FaultTypeSchema } from '../manifest/faults.js';
import { HttpProbeSchema, PrometheusProbeSchema, TcpProbeSchema } from '../manifest/probes.js';
import { WireErrorSchema } from '../errors.js';
import { RequestIdSchema } from './common.js';

/** First frame from the controller, answering the agent's hello. */
export const WelcomeMessageSchema = z.object({
  type: z.literal('welcome'),
  protocolVersion: z.number().int(),
  heartbeatIntervalMs: z.number().int().positive(),
});

/** Lease renewal; the agent answers with `pong`. */
export const PingMessageSchema = z.object({ type: z.literal('ping'), ts: z.number() });

/** Asks for the running, non-protected containers that match a selector. */
export const ListContainersMessageSchema = z.object({
  type: z.literal('list-containers'),
  id: RequestIdSchema,
  selector: ContainerSelectorSchema,
});

/** Orders one fault on one container. `durationMs` is null for instant faults. */
export const InjectMessageSchema = z.object({
  type: z.literal('inject'),
  id: RequestIdSchema,
  faultId: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/),
  runId: z.string().min(1).max(64),
  fault: FaultTypeSchema,
  params: z.record(z.string(), z.unknown()),
  containerId: z.string().min(1).max(128).regex(/^[A-Za-z0-9]+$/),
  durationMs: z.number().int().positive().nullable(),
});

/** Reverts one fault. Reverting an unknown or already-reverted fault succeeds. */
export const RevertMessageSchema = z.object({
  type: z.literal('revert'),
  id: RequestIdSchema,
  faultId: z.string().min(1),
});

/** Reverts every fault the agent holds (halt). */
export const RevertAllMessageSchema = z.object({
  type: z.literal('revert-all'),
  id: RequestIdSchema,
  reason: z.string().max(1000),
});

/** Runs one attempt of a network probe (http, tcp, prometheus) on the agent's host; answered by `probe-result`. */
export const ProbeMessageSchema = z.object({
  type: z.literal('probe'),
  id: RequestIdSchema,
  probe: z.discriminatedUnion('type', [HttpProbeSchema, TcpProbeSchema, PrometheusProbeSchema]),
});

/** An error, in reply to a request (`id`) or to an invalid frame. */
export const ControllerErrorMessageSchema = z.object({
  type: z.literal('error'),
  id: RequestIdSchema.optional(),
  error: WireErrorSchema,
});

/** Every frame the controller sends to an agent. */
export const ControllerMessageSchema = z.discriminatedUnion('type', [
  WelcomeMessageSchema,
  PingMessageSchema,
  ListContainersMessageSchema,
  InjectMessageSchema,
  RevertMessageSchema,
  RevertAllMessageSchema,
  ProbeMessageSchema,
  ControllerErrorMessageSchema,
]);
/** A frame from the controller. */
export type ControllerMessage = z.infer<typeof ControllerMessageSchema>;
/** See {@link InjectMessageSchema}. */
export type InjectMessage = z.infer<typeof InjectMessageSchema>;
