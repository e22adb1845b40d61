import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manifestJsonSchemaText } from '../manifest/json-schema.js';

// Regenerates the committed JSON Schema: `pnpm schema`.
const target = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../schemas/manifest.schema.json');
writeFileSync(target, manifestJsonSchemaText());
process.stdout.write(`wrote ${target}\n`);
