import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestJsonSchemaText } from '../src/index.js';

describe('committed JSON Schema', () => {
  it('matches the zod schemas (run `pnpm schema` after changing them)', () => {
    const committed = readFileSync(join(import.meta.dirname, '../../../schemas/manifest.schema.json'), 'utf8');
    expect(committed === manifestJsonSchemaText(), 'schemas/manifest.schema.json is stale: run `pnpm build && pnpm schema`').toBe(true);
  });
  it('lists every fault type for editors', () => {
    const text = manifestJsonSchemaText();
    for (const fault of ['network-latency', 'container-kill', 'network-bandwidth']) expect(text).toContain(`"${fault}"`);
  });
});
