import { z } from 'zod';
import { isDuration, parseDuration } from '../duration.js';
import { DurationSchema, PortSchema } from './common.js';

const PortsSchema = z.array(PortSchema).min(1).describe('TCP ports the fault applies to; default all (or the exposed ports)');

const CidrSchema = z
  .string()
  .regex(/^(\d{1,3})(\.\d{1,3}){3}(\/(3[0-2]|[12]?\d))?$/, {
    error: (iss) => `invalid CIDR ${JSON.stringify(iss.input)}: write an IPv4 address or network such as 10.0.0.0/8`,
  })
  .refine((cidr) => cidr.split('/')[0]!.split('.').every((octet) => Number(octet) <= 255), {
    error: (iss) => `invalid CIDR ${JSON.stringify(iss.input)}: each octet must be 0-255`,
  });

/** Parameters of `network-latency`. */
export const NetworkLatencyParamsSchema = z
  .object({
    latency: DurationSchema.describe('Delay added to each request/response exchange'),
    jitter: DurationSchema.default('0ms').describe('Uniform random variation around the latency'),
    ports: PortsSchema.optional(),
    mechanism: z
      .enum(['auto', 'netem', 'proxy'])
      .default('auto')
      .describe('auto picks netem when the agent supports it, else the transparent proxy'),
  })
  .strict();

/** Parameters of `network-loss`. */
export const NetworkLossParamsSchema = z
  .object({
    percent: z.number().gt(0).max(100).describe('Share of packets dropped, 0-100'),
    ports: PortsSchema.optional(),
  })
  .strict();

/** Parameters of `network-blackhole`. */
export const NetworkBlackholeParamsSchema = z
  .object({
    ports: PortsSchema.optional(),
    cidrs: z.array(CidrSchema).min(1).optional().describe('Peers whose traffic is dropped; default all'),
  })
  .strict();

/** Parameters of `network-bandwidth`. */
export const NetworkBandwidthParamsSchema = z
  .object({
    rate: z
      .string()
      .regex(/^\d+(\.\d+)?(bit|kbit|mbit|gbit)$/, {
        error: (iss) => `invalid rate ${JSON.stringify(iss.input)}: write a number with bit, kbit, mbit or gbit, e.g. 1mbit`,
      })
      .describe('Egress rate limit, e.g. 1mbit'),
  })
  .strict();

/** Parameters of `container-pause` (none). */
export const ContainerPauseParamsSchema = z.object({}).strict();

/** Parameters of `container-stop`. */
export const ContainerStopParamsSchema = z
  .object({ timeout: DurationSchema.default('10s').describe('Grace period before SIGKILL') })
  .strict();

const SignalSchema = z.string().regex(/^SIG[A-Z0-9]+$/, {
  error: (iss) => `invalid signal ${JSON.stringify(iss.input)}: write a signal name such as SIGKILL or SIGTERM`,
});

/** Parameters of `container-kill`. */
export const ContainerKillParamsSchema = z
  .object({ signal: SignalSchema.default('SIGKILL').describe('Signal sent to the container') })
  .strict();

/** Parameters of `container-restart`. */
export const ContainerRestartParamsSchema = z
  .object({ timeout: DurationSchema.default('10s').describe('Grace period before SIGKILL') })
  .strict();

/** Every fault type, its kind and its parameter schema. */
export const FAULT_CATALOGUE = {
  'network-latency': { kind: 'sustained', params: NetworkLatencyParamsSchema },
  'network-loss': { kind: 'sustained', params: NetworkLossParamsSchema },
  'network-blackhole': { kind: 'sustained', params: NetworkBlackholeParamsSchema },
  'network-bandwidth': { kind: 'sustained', params: NetworkBandwidthParamsSchema },
  'container-pause': { kind: 'sustained', params: ContainerPauseParamsSchema },
  'container-stop': { kind: 'sustained', params: ContainerStopParamsSchema },
  'container-kill': { kind: 'instant', params: ContainerKillParamsSchema },
  'container-restart': { kind: 'instant', params: ContainerRestartParamsSchema },
} as const;

/** A fault type name. */
export type FaultType = keyof typeof FAULT_CATALOGUE;
/** All fault type names. */
export const FAULT_TYPES = Object.keys(FAULT_CATALOGUE) as [FaultType, ...FaultType[]];
/** Schema of a fault type name. */
export const FaultTypeSchema = z.enum(FAULT_TYPES);
/** The validated parameters of fault type `T`. */
export type FaultParams<T extends FaultType> = z.output<(typeof FAULT_CATALOGUE)[T]['params']>;

/**
 * How much longer than usual an agent may take to answer an inject of this fault: container-stop and
 * container-restart answer once Docker is done, which takes up to their `timeout` grace period.
 */
export function injectGraceMs(type: FaultType, params: Record<string, unknown>): number {
  if (type !== 'container-stop' && type !== 'container-restart') return 0;
  return typeof params.timeout === 'string' && isDuration(params.timeout) ? parseDuration(params.timeout) : 0;
}

/** True when a fault of this type holds for a duration and is reverted. */
export function isSustained(type: FaultType): boolean {
  return FAULT_CATALOGUE[type].kind === 'sustained';
}

const stepBase = {
  target: z.string().min(1).describe('A target name from spec.targets'),
  name: z.string().min(1).optional().describe('A label for this step in the journal'),
};

function sustainedStep<T extends FaultType, P extends z.ZodObject>(type: T, params: P) {
  return z
    .object({
      fault: z.literal(type),
      ...stepBase,
      duration: DurationSchema.refine((text) => !isDuration(text) || parseDuration(text) > 0, {
        error: 'a sustained fault needs a duration above 0, e.g. 30s',
      }).describe('How long the fault holds before it is reverted'),
      background: z.boolean().default(false).describe('Start the next step at once'),
      params: params.prefault({} as z.input<P>),
    })
    .strict();
}

function instantStep<T extends FaultType, P extends z.ZodObject>(type: T, params: P) {
  return z
    .object({
      fault: z.literal(type),
      ...stepBase,
      params: params.prefault({} as z.input<P>),
    })
    .strict();
}

/** A method step that injects a fault. */
export const FaultStepSchema = z.discriminatedUnion('fault', [
  sustainedStep('network-latency', NetworkLatencyParamsSchema),
  sustainedStep('network-loss', NetworkLossParamsSchema),
  sustainedStep('network-blackhole', NetworkBlackholeParamsSchema),
  sustainedStep('network-bandwidth', NetworkBandwidthParamsSchema),
  sustainedStep('container-pause', ContainerPauseParamsSchema),
  sustainedStep('container-stop', ContainerStopParamsSchema),
  instantStep('container-kill', ContainerKillParamsSchema),
  instantStep('container-restart', ContainerRestartParamsSchema),
]);
/** See {@link FaultStepSchema}. */
export type FaultStep = z.infer<typeof FaultStepSchema>;

/** A method step that waits. */
export const PauseStepSchema = z.object({ pause: DurationSchema, name: z.string().min(1).optional() }).strict();
/** See {@link PauseStepSchema}. */
export type PauseStep = z.infer<typeof PauseStepSchema>;

/** One step of `spec.method`. */
export const MethodStepSchema = z.union([PauseStepSchema, FaultStepSchema]);
/** See {@link MethodStepSchema}. */
export type MethodStep = z.infer<typeof MethodStepSchema>;
