import { z } from 'zod';
import { ManifestSchema } from './experiment.js';

/** The JSON Schema (draft 2020-12) of every manifest, for editors. Committed as schemas/manifest.schema.json. */
export function manifestJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ManifestSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, $id: 'https://faultline.dev/schemas/manifest.schema.json', title: 'Faultline manifest' };
}

/** The committed file's text: stable key order, trailing newline. */
export function manifestJsonSchemaText(): string {
  return `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`;
}
