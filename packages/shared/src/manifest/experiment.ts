import { z } from 'zod';
import {
  AgentSelectorSchema,
  ContainerSelectorSchema,
  DurationSchema,
  LabelsSchema,
  NameSchema,
  SelectSchema,
  regexError,
} from './common.js';
import { parseCron, timeZoneError } from './cron.js';
import { MethodStepSchema } from './faults.js';
import { ProbeSchema } from './probes.js';

/** The API version every manifest declares. */
export const API_VERSION = 'faultline/v1';

/** Metadata shared by every manifest kind. */
export const MetadataSchema = z
  .object({
    name: NameSchema,
    description: z.string().optional(),
    labels: LabelsSchema.optional(),
  })
  .strict();

/** A named set of containers a method step can aim at. */
export const TargetSchema = z
  .object({
    agents: AgentSelectorSchema.optional().describe('Agents to look on; default every agent'),
    containers: ContainerSelectorSchema,
    select: SelectSchema.default({ mode: 'all' }),
  })
  .strict();
/** See {@link TargetSchema}. */
export type Target = z.infer<typeof TargetSchema>;

/** When a manifest runs on its own. 5 cron fields, or 6 with seconds first. */
export const ScheduleSchema = z.union([
  z
    .object({
      cron: z
        .string()
        .superRefine((text, ctx) => {
          const parsed = parseCron(text);
          if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
        })
        .describe('5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; or @daily, @hourly, ...'),
      timezone: z
        .string()
        .min(1)
        .superRefine((zone, ctx) => {
          const problem = timeZoneError(zone);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .default('UTC')
        .describe('An IANA time zone, e.g. Europe/Berlin; cron fields and the window are read in it'),
    })
    .strict(),
  z.object({ at: z.iso.datetime({ offset: true, error: 'expected an ISO 8601 time such as 2026-12-01T14:00:00Z' }) }).strict(),
]);
/** See {@link ScheduleSchema}. */
export type Schedule = z.infer<typeof ScheduleSchema>;

const CLOCK_TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Days and hours, in the schedule's time zone (UTC for `at`), outside which a scheduled fire is skipped. */
export const WindowSchema = z
  .object({
    start: z.string().regex(CLOCK_TIME, { error: 'expected HH:MM' }).describe('First minute inside the window, HH:MM'),
    end: z.string().regex(CLOCK_TIME, { error: 'expected HH:MM' }).describe('First minute after the window, HH:MM; after start'),
    days: z.array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])).min(1).optional().describe('Default every day'),
  })
  .strict()
  .refine((w) => w.end > w.start, { error: 'window end must be after its start', path: ['end'] });
/** See {@link WindowSchema}. */
export type Window = z.infer<typeof WindowSchema>;

/** What a scheduled fire does while an earlier run of the same manifest is still going. */
export const ConcurrencySchema = z.enum(['forbid', 'allow']).describe('forbid: skip the fire (recorded); allow: start anyway');

/** Limits that make a run refuse or stop. */
export const SafetySchema = z
  .object({
    maxTargets: z.number().int().min(1).optional().describe('Refuse the run if more containers are selected'),
    timeout: DurationSchema.default('10m').describe('Hard limit for the whole run'),
  })
  .strict();

/** An experiment manifest (SPEC §3). */
export const ExperimentSchema = z
  .object({
    apiVersion: z.literal(API_VERSION, { error: `expected apiVersion: ${API_VERSION}` }),
    kind: z.literal('Experiment'),
    metadata: MetadataSchema,
    spec: z
      .object({
        targets: z.record(NameSchema, TargetSchema).refine((t) => Object.keys(t).length > 0, {
          error: 'define at least one target',
        }),
        steadyState: z
          .object({ probes: z.array(ProbeSchema).default([]) })
          .strict()
          .default({ probes: [] }),
        method: z.array(MethodStepSchema).min(1, { error: 'the method needs at least one step' }),
        safety: SafetySchema.default({ timeout: '10m' }),
        schedule: ScheduleSchema.optional(),
        window: WindowSchema.optional().describe('Only with schedule: fires outside it are skipped'),
        concurrency: ConcurrencySchema.optional().describe('Only with schedule; default forbid'),
      })
      .strict(),
  })
  .strict()
  // Cross-field checks run even when other fields are invalid, so every problem is reported at once.
  .superRefine((experiment, ctx) => experimentCrossChecks(experiment, ctx), { when: () => true });
/** A validated experiment, defaults applied. */
export type Experiment = z.output<typeof ExperimentSchema>;

/** A game day manifest (SPEC §3). */
export const GameDaySchema = z
  .object({
    apiVersion: z.literal(API_VERSION, { error: `expected apiVersion: ${API_VERSION}` }),
    kind: z.literal('GameDay'),
    metadata: MetadataSchema,
    spec: z
      .object({
        schedule: ScheduleSchema.optional(),
        window: WindowSchema.optional(),
        experiments: z.array(NameSchema).min(1),
        stopOnDeviation: z.boolean().default(true),
        concurrency: ConcurrencySchema.default('forbid'),
      })
      .strict(),
  })
  .strict();
/** A validated game day. */
export type GameDay = z.output<typeof GameDaySchema>;

/** Any manifest. */
export const ManifestSchema = z.discriminatedUnion('kind', [ExperimentSchema, GameDaySchema]);
/** See {@link ManifestSchema}. */
export type Manifest = z.output<typeof ManifestSchema>;

interface IssueSink {
  addIssue(issue: { code: 'custom'; path: (string | number)[]; message: string }): void;
}

/** Checks between fields (method targets exist, regexes compile, probe names are unique); tolerates invalid input. */
export function experimentCrossChecks(input: unknown, ctx: IssueSink): void {
  const spec = field(input, 'spec');
  const targets = field(spec, 'targets');
  const targetNames = isObject(targets) ? Object.keys(targets) : [];
  const method = field(spec, 'method');
  if (Array.isArray(method) && isObject(targets)) {
    method.forEach((step: unknown, index) => {
      const target = field(step, 'target');
      if (field(step, 'fault') !== undefined && typeof target === 'string' && !targetNames.includes(target)) {
        ctx.addIssue({
          code: 'custom',
          path: ['spec', 'method', index, 'target'],
          message: `target "${target}" is not defined in spec.targets (defined: ${targetNames.join(', ') || 'none'})`,
        });
      }
    });
  }
  for (const name of targetNames) {
    const pattern = field(field(field(targets, name), 'containers'), 'namePattern');
    const problem = typeof pattern === 'string' ? regexError(pattern) : undefined;
    if (problem) {
      ctx.addIssue({ code: 'custom', path: ['spec', 'targets', name, 'containers', 'namePattern'], message: problem });
    }
  }
  const probes = field(field(spec, 'steadyState'), 'probes');
  if (Array.isArray(probes)) {
    const seen = new Set<string>();
    probes.forEach((probe: unknown, index) => {
      const from = field(probe, 'from');
      if (field(probe, 'type') === 'exec' && typeof from === 'object' && from !== null) {
        ctx.addIssue({
          code: 'custom',
          path: ['spec', 'steadyState', 'probes', index, 'from'],
          message: 'exec probes run only on the controller; remove from: {agents: ...} or use an http, tcp or prometheus probe',
        });
      }
      const name = field(probe, 'name');
      if (typeof name !== 'string') return;
      if (seen.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['spec', 'steadyState', 'probes', index, 'name'],
          message: `probe name "${name}" is used twice; probe names must be unique`,
        });
      }
      seen.add(name);
    });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(value: unknown, key: string): unknown {
  return isObject(value) ? value[key] : undefined;
}
