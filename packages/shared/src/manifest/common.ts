import { z } from 'zod';
import { DURATION_PATTERN, durationErrorMessage } from '../duration.js';

/** A duration string such as `500ms`, `30s`, `5m`, `1h`. */
export const DurationSchema = z
  .string({ error: (iss) => durationErrorMessage(iss.input) })
  .regex(new RegExp(DURATION_PATTERN), { error: (iss) => durationErrorMessage(iss.input) })
  .describe('A duration: a number with a unit (ms, s, m, h), e.g. 500ms, 30s, 5m, 1h');

/** Names of experiments, game days, targets and probes: lowercase letters, digits and '-'. */
export const NameSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
    error: (iss) =>
      `invalid name ${JSON.stringify(iss.input)}: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
  });

/** A map of label keys to values. */
export const LabelsSchema = z.record(z.string().min(1).max(253), z.string().max(253));

/** A TCP/UDP port number. */
export const PortSchema = z.number().int().min(1).max(65535);

/** Chooses agents by name and/or labels; every given condition must match. */
export const AgentSelectorSchema = z
  .object({
    labels: LabelsSchema.optional().describe('Agent labels that must all match'),
    names: z.array(z.string().min(1)).min(1).optional().describe('Agent names; any may match'),
  })
  .strict();
/** See {@link AgentSelectorSchema}. */
export type AgentSelector = z.infer<typeof AgentSelectorSchema>;

/** Chooses containers; every given condition must match. */
export const ContainerSelectorSchema = z
  .object({
    labels: LabelsSchema.optional().describe('Container labels that must all match'),
    namePattern: z
      .string()
      .min(1)
      .optional()
      .describe('A JavaScript regular expression matched against the container name'),
    names: z.array(z.string().min(1)).min(1).optional().describe('Exact container names; any may match'),
  })
  .strict();
/** See {@link ContainerSelectorSchema}. */
export type ContainerSelector = z.infer<typeof ContainerSelectorSchema>;

/** How many of the matching containers a run targets, counted across all agents. */
export const SelectSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('all') }).strict(),
  z.object({ mode: z.literal('one') }).strict(),
  z.object({ mode: z.literal('count'), value: z.number().int().min(1) }).strict(),
  z.object({ mode: z.literal('percent'), value: z.number().gt(0).max(100) }).strict(),
]);
/** See {@link SelectSchema}. */
export type Select = z.infer<typeof SelectSchema>;

/** Returns an error message if `pattern` is not a valid JavaScript regular expression. */
export function regexError(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
    return undefined;
  } catch (error) {
    return `invalid regular expression ${JSON.stringify(pattern)}: ${error instanceof Error ? error.message : String(error)}`;
  }
}
