import { z } from 'zod';
import { FaultTypeSchema } from '../manifest/faults.js';

/** The wire protocol version; sent in the first message of each side. */
export const PROTOCOL_VERSION = 1;

/** The path agents connect to (WebSocket upgrade on the controller's port). */
export const AGENT_WS_PATH = '/api/v1/agents/connect';

/** Frames larger than this are refused by both ends. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** A request id chosen by the sender of a request; echoed in its reply. */
export const RequestIdSchema = z.string().min(1).max(128);

/** A latency mechanism an agent can use. */
export const LatencyMechanismSchema = z.enum(['netem', 'proxy']);
/** See {@link LatencyMechanismSchema}. */
export type LatencyMechanism = z.infer<typeof LatencyMechanismSchema>;

/** What an agent can do, advertised in its hello. */
export const CapabilitiesSchema = z.object({
  faults: z.array(FaultTypeSchema),
  latencyMechanisms: z.array(LatencyMechanismSchema),
});
/** See {@link CapabilitiesSchema}. */
export type Capabilities = z.infer<typeof CapabilitiesSchema>;

/** A container as an agent reports it. */
export const ContainerInfoSchema = z.object({
  id: z.string().min(1),
  name: z.string(),
  labels: z.record(z.string(), z.string()),
  image: z.string(),
  state: z.string(),
});
/** See {@link ContainerInfoSchema}. */
export type ContainerInfo = z.infer<typeof ContainerInfoSchema>;

/** A fault the agent holds right now. */
export const ActiveFaultSchema = z.object({
  faultId: z.string().min(1),
  runId: z.string(),
  type: FaultTypeSchema,
  containerId: z.string(),
  containerName: z.string(),
  appliedAt: z.number().nullable(),
  deadline: z.number().nullable(),
});
/** See {@link ActiveFaultSchema}. */
export type ActiveFault = z.infer<typeof ActiveFaultSchema>;

/**
 * Why a fault was reverted. `target-removed`: the agent saw the target container removed (Docker
 * `destroy`) while the fault was active, and reverted what was left of it on its own.
 */
export const RevertCauseSchema = z.enum(['requested', 'deadline', 'lease', 'shutdown', 'startup', 'halt', 'failed-inject', 'target-removed']);
/** See {@link RevertCauseSchema}. */
export type RevertCause = z.infer<typeof RevertCauseSchema>;
