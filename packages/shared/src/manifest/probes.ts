import { z } from 'zod';
import { AgentSelectorSchema, DurationSchema, PortSchema } from './common.js';

/** When a probe runs. */
export const ProbePhaseSchema = z.enum(['before', 'during', 'after']);
/** See {@link ProbePhaseSchema}. */
export type ProbePhase = z.infer<typeof ProbePhaseSchema>;

const probeBase = {
  name: z.string().min(1).describe('Unique within the experiment'),
  when: z.array(ProbePhaseSchema).min(1).default(['before', 'after']).describe('Phases the probe runs in'),
  interval: DurationSchema.default('1s').describe('Period of the probe during the method'),
  timeout: DurationSchema.default('5s').describe('Time limit of one probe attempt'),
  failAfter: z.number().int().min(1).default(1).describe('Consecutive failures during the method before the probe counts as failed'),
  from: z
    .union([z.literal('controller'), z.object({ agents: AgentSelectorSchema }).strict()])
    .default('controller')
    .describe('Where the probe runs: the controller, or the hosts of the chosen agents'),
};

const StatusExpectSchema = z.union([
  z.number().int().min(100).max(599),
  z.array(z.number().int().min(100).max(599)).min(1),
  z.string().regex(/^[1-5]xx$/, { error: 'expected a status class such as "2xx"' }),
]);

/** An HTTP probe. */
export const HttpProbeSchema = z
  .object({
    type: z.literal('http'),
    ...probeBase,
    url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']).default('GET'),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.string().optional(),
    expect: z
      .object({
        status: StatusExpectSchema.default('2xx').describe('A status, a list, or a class like "2xx"'),
        maxLatency: DurationSchema.optional(),
        bodyContains: z.string().optional(),
      })
      .strict()
      .default({ status: '2xx' }),
  })
  .strict();

/** A TCP connect probe. */
export const TcpProbeSchema = z
  .object({
    type: z.literal('tcp'),
    ...probeBase,
    host: z.string().min(1),
    port: PortSchema,
  })
  .strict();

/** A Prometheus query probe. */
export const PrometheusProbeSchema = z
  .object({
    type: z.literal('prometheus'),
    ...probeBase,
    url: z.url({ protocol: /^https?$/, error: 'expected the http:// or https:// base URL of a Prometheus server' }),
    query: z.string().min(1),
    expect: z
      .object({
        lt: z.number().optional(),
        lte: z.number().optional(),
        gt: z.number().optional(),
        gte: z.number().optional(),
        eq: z.number().optional(),
      })
      .strict()
      .refine((e) => Object.keys(e).length > 0, { error: 'give at least one of lt, lte, gt, gte, eq' }),
  })
  .strict();

/** A command probe (argv, no shell); only allowed with `--allow-exec-probes`. */
export const ExecProbeSchema = z
  .object({
    type: z.literal('exec'),
    ...probeBase,
    command: z.array(z.string()).min(1).describe('argv; never run through a shell'),
    expect: z
      .object({ exitCode: z.number().int().default(0), stdoutContains: z.string().optional() })
      .strict()
      .default({ exitCode: 0 }),
  })
  .strict();

/** Any steady-state probe. */
export const ProbeSchema = z.discriminatedUnion('type', [HttpProbeSchema, TcpProbeSchema, PrometheusProbeSchema, ExecProbeSchema]);
/** See {@link ProbeSchema}. */
export type Probe = z.infer<typeof ProbeSchema>;
/** See {@link HttpProbeSchema}. */
export type HttpProbe = z.infer<typeof HttpProbeSchema>;
/** See {@link TcpProbeSchema}. */
export type TcpProbe = z.infer<typeof TcpProbeSchema>;
