import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** File names of the generated tokens inside the data directory. */
export const API_TOKEN_FILE = 'api-token';
export const AGENT_TOKEN_FILE = 'agent-token';

/** Tokens given on the command line or in the environment; missing ones come from the data dir. */
export interface TokenOptions {
  apiToken?: string;
  agentToken?: string;
}

/** The tokens the controller uses, and the files written because a token had to be generated. */
export interface Tokens {
  apiToken: string;
  agentToken: string;
  /** Paths of token files created by this call (empty when every token existed or was given). */
  generated: string[];
}

/**
 * Resolves the API and agent tokens. A token given in `options` wins; otherwise it is read from
 * `<dataDir>/api-token` / `<dataDir>/agent-token`, or generated (32 random bytes, base64url) and
 * written there with mode 0600 so that restarts keep it.
 */
export function ensureTokens(dataDir: string, options: TokenOptions = {}): Tokens {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const generated: string[] = [];
  const resolve = (given: string | undefined, file: string): string => {
    if (given !== undefined && given.trim() !== '') return given.trim();
    const path = join(dataDir, file);
    const existing = readTokenFile(path);
    if (existing !== undefined) return existing;
    const token = generateToken();
    writeTokenFile(path, token);
    generated.push(path);
    return token;
  };
  const apiToken = resolve(options.apiToken, API_TOKEN_FILE);
  const agentToken = resolve(options.agentToken, AGENT_TOKEN_FILE);
  return { apiToken, agentToken, generated };
}

/**
 * Reads a token file (surrounding whitespace trimmed). Returns undefined when the file does not
 * exist or is blank; other read errors are thrown.
 */
export function readTokenFile(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const token = text.trim();
  return token === '' ? undefined : token;
}

/** A new random token: 32 bytes, base64url. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

function writeTokenFile(path: string, token: string): void {
  // A blank file may exist (readTokenFile treats it as missing): overwrite it, keeping it private.
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}
