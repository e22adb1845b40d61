import { readFileSync } from 'node:fs';

/**
 * The agent's version, from its package.json (read at run time: `src/` and `dist/` both sit next to
 * it, and importing the JSON would put package.json inside the compiled tree).
 */
export const AGENT_VERSION: string = readVersion();

function readVersion(): string {
  try {
    const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === 'string' ? version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}
