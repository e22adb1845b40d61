import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Dispatcher } from 'undici';
import { formatDuration } from '@faultline/shared';
import { API_TOKEN_FILE, readTokenFile } from '../store/tokens.js';
import { EXIT_FAILURE, parseVerbArgs, usageError, type CliIo, type ParsedArgs, type VerbSpec } from './io.js';

/** The controller URL used when neither `--server` nor FAULTLINE_SERVER is given. */
export const DEFAULT_SERVER = 'http://127.0.0.1:7070';
/** Default time limit of one REST call. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Where the client connects and how it authenticates. */
export interface ClientOptions {
  /** Base URL without a trailing slash. */
  server: string;
  token?: string;
  /** Where the token came from, for error hints: `--token`, `FAULTLINE_API_TOKEN` or a file path. */
  tokenSource?: string;
  /** Path of the token file that was looked for when no token was given. */
  tokenFile?: string;
  /** PEM file of the CA(s) to trust for an https controller (`--ca`, FAULTLINE_CA). Default the system's CAs. */
  caFile?: string;
}

/** One problem in an API error's `details`. */
export interface ApiErrorDetail {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** A non-2xx answer of the REST API. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | undefined,
    readonly details: ApiErrorDetail[],
  ) {
    super(message);
  }
}

/** The controller could not be reached (refused, unknown host, TLS, timeout). */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
}

/**
 * Resolves the server and token: `--server` / FAULTLINE_SERVER / http://127.0.0.1:7070, and
 * `--token` / FAULTLINE_API_TOKEN / `<FAULTLINE_DATA or ./.faultline>/api-token`.
 * @throws Error when the server URL is not a URL.
 */
export function resolveClientOptions(args: ParsedArgs, io: CliIo): ClientOptions {
  const server = normaliseServer(stringValue(args, 'server') ?? nonEmpty(io.env.FAULTLINE_SERVER) ?? DEFAULT_SERVER);
  const caText = stringValue(args, 'ca') ?? nonEmpty(io.env.FAULTLINE_CA);
  const ca = caText === undefined ? {} : { caFile: isAbsolute(caText) ? caText : join(io.cwd, caText) };
  const flagToken = stringValue(args, 'token');
  if (flagToken !== undefined) return { server, ...ca, token: flagToken, tokenSource: '--token' };
  const envToken = nonEmpty(io.env.FAULTLINE_API_TOKEN);
  if (envToken !== undefined) return { server, ...ca, token: envToken, tokenSource: 'FAULTLINE_API_TOKEN' };
  const dataDir = nonEmpty(io.env.FAULTLINE_DATA) ?? '.faultline';
  const tokenFile = join(isAbsolute(dataDir) ? dataDir : join(io.cwd, dataDir), API_TOKEN_FILE);
  let fileToken: string | undefined;
  try {
    fileToken = readTokenFile(tokenFile);
  } catch {
    fileToken = undefined; // unreadable: treated as absent; a 401 then explains where tokens come from
  }
  return fileToken === undefined ? { server, ...ca, tokenFile } : { server, ...ca, token: fileToken, tokenSource: tokenFile, tokenFile };
}

/** Options of one REST call. */
export interface RequestOptions {
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is, with `contentType`. */
  text?: string;
  contentType?: string;
  query?: Record<string, string | number | undefined>;
  /** Default 30s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A small client of the controller's REST API (SPEC §5). */
export class ApiClient {
  #dispatcher: Dispatcher | undefined;

  constructor(readonly options: ClientOptions) {}

  /** GET, returning the parsed JSON body. */
  get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', path, options);
  }

  /** POST with a JSON body (default `{}`). */
  post<T>(path: string, json: unknown = {}, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('POST', path, { ...options, json });
  }

  /** PUT raw text. */
  put<T>(path: string, text: string, contentType: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('PUT', path, { ...options, text, contentType });
  }

  /**
   * Sends a request and returns the JSON body (undefined for 204).
   * @throws ApiError for non-2xx answers, UnreachableError when the controller cannot be reached.
   */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    let body: string | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.text !== undefined) {
      headers['content-type'] = options.contentType ?? 'text/plain';
      body = options.text;
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const response = await this.#fetch(this.url(path, options.query), { method, headers, body }, timeoutMs, options.signal);
    const text = await response.text();
    if (!response.ok) throw apiErrorFrom(response.status, text);
    if (response.status === 204 || text.trim() === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(response.status, `the controller sent a body that is not JSON: ${text.slice(0, 200)}`, undefined, []);
    }
  }

  /**
   * Opens a `text/event-stream` GET. No time limit: the stream lasts as long as the run.
   * @throws ApiError for non-2xx answers, UnreachableError when the controller cannot be reached.
   */
  async openStream(path: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const response = await this.#fetch(this.url(path), { method: 'GET', headers: { accept: 'text/event-stream' } }, undefined, signal);
    if (!response.ok) throw apiErrorFrom(response.status, await response.text());
    if (!response.body) throw new ApiError(response.status, 'the event stream has no body', undefined, []);
    return response.body;
  }

  /** The absolute URL of an API path. */
  url(path: string, query: Record<string, string | number | undefined> = {}): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const search = params.toString();
    return `${this.options.server}${path}${search ? `?${search}` : ''}`;
  }

  /** An HTTP dispatcher that trusts the CA(s) in `caFile` (read once; undici loaded only then). */
  async #trusting(caFile: string): Promise<Dispatcher> {
    if (this.#dispatcher) return this.#dispatcher;
    let ca: string;
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (error) {
      throw new Error(`--ca ${caFile}: cannot read it: ${error instanceof Error ? error.message : String(error)}`);
    }
    const { Agent } = await import('undici');
    this.#dispatcher = new Agent({ connect: { ca } });
    return this.#dispatcher;
  }

  async #fetch(
    url: string,
    init: { method: string; headers: Record<string, string>; body?: string },
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const headers = { ...init.headers };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    const signals = [signal, timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs)].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    try {
      const request: RequestInit & { dispatcher?: Dispatcher } = {
        method: init.method,
        headers,
        body: init.body,
        signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
      };
      if (this.options.caFile !== undefined) request.dispatcher = await this.#trusting(this.options.caFile);
      return await fetch(url, request);
    } catch (error) {
      if (signal?.aborted) throw error; // the caller's own abort, not a network problem
      if (error instanceof Error && error.name === 'TimeoutError' && timeoutMs !== undefined) {
        throw new UnreachableError(`the controller at ${this.options.server} did not answer within ${formatDuration(timeoutMs)}`);
      }
      throw new UnreachableError(unreachableMessage(this.options.server, error));
    }
  }
}

/** Prints an error as `error: <message>` with detail lines and hints; returns exit code 1. */
export function printError(io: CliIo, error: unknown, options?: ClientOptions): number {
  for (const line of formatError(error, options)) io.stderr.write(`${line}\n`);
  return EXIT_FAILURE;
}

/** The lines {@link printError} prints. */
export function formatError(error: unknown, options?: ClientOptions): string[] {
  if (error instanceof ApiError) {
    const lines = [`error: ${error.message}`];
    for (const detail of error.details) lines.push(`  ${formatDetail(detail)}`);
    if (error.status === 401 && options) {
      lines.push(
        options.token === undefined
          ? `hint: no API token found: pass --token, set FAULTLINE_API_TOKEN, or run where ${options.tokenFile ?? './.faultline/api-token'} exists`
          : `hint: the token from ${options.tokenSource ?? 'the command line'} was refused by ${options.server}`,
      );
    }
    return lines;
  }
  return [`error: ${error instanceof Error ? error.message : String(error)}`];
}

/** `path (line L, column C): message`, leaving out what is unknown. */
export function formatDetail(detail: ApiErrorDetail): string {
  const where = detail.line === undefined ? '' : `(line ${detail.line}, column ${detail.column ?? 1})`;
  const head = [detail.path, where].filter((part) => part !== '').join(' ');
  return head === '' ? detail.message : `${head}: ${detail.message}`;
}

function apiErrorFrom(status: number, text: string): ApiError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const record = isRecord(body) ? body : {};
  // The API sends {error: message, code, details}; also accept {error: {code, message, details}}.
  const inner = isRecord(record.error) ? record.error : record;
  const message =
    typeof inner.error === 'string'
      ? inner.error
      : typeof inner.message === 'string'
        ? inner.message
        : `the controller answered HTTP ${status}${text.trim() ? `: ${text.trim().slice(0, 200)}` : ''}`;
  const code = typeof inner.code === 'string' ? inner.code : typeof record.code === 'string' ? record.code : undefined;
  const rawDetails = Array.isArray(inner.details) ? inner.details : Array.isArray(record.details) ? record.details : [];
  const details: ApiErrorDetail[] = rawDetails.filter(isRecord).map((d) => {
    const detail: ApiErrorDetail = {
      path: typeof d.path === 'string' ? d.path : Array.isArray(d.path) ? d.path.join('.') : '',
      message: typeof d.message === 'string' ? d.message : JSON.stringify(d),
    };
    if (typeof d.line === 'number') detail.line = d.line;
    if (typeof d.column === 'number') detail.column = d.column;
    return detail;
  });
  return new ApiError(status, message, code, details);
}

function unreachableMessage(server: string, error: unknown): string {
  const code = findErrorCode(error);
  switch (code ?? '') {
    case 'ECONNREFUSED':
      return `cannot reach the controller at ${server}: is it running?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot reach the controller at ${server}: unknown host`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `cannot reach the controller at ${server}: the connection was closed`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `cannot reach the controller at ${server}: its TLS certificate is not trusted (${code}): pass its CA with --ca FILE or FAULTLINE_CA`;
    default: {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : undefined;
      const detail = code ?? cause ?? (error instanceof Error ? error.message : String(error));
      return `cannot reach the controller at ${server}: ${detail}`;
    }
  }
}

/** Finds a system error code in an error, its causes, or an AggregateError's members. */
function findErrorCode(error: unknown, depth = 0): string | undefined {
  if (!isRecord(error) || depth > 5) return undefined;
  if (typeof error.code === 'string' && error.code !== 'ERR_INVALID_ARG_TYPE') return error.code;
  if (Array.isArray(error.errors)) {
    for (const inner of error.errors) {
      const code = findErrorCode(inner, depth + 1);
      if (code) return code;
    }
  }
  return findErrorCode(error.cause, depth + 1);
}

function normaliseServer(text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`invalid server URL ${JSON.stringify(text)}: write e.g. http://127.0.0.1:7070`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`invalid server URL ${JSON.stringify(text)}: use http:// or https://`);
  }
  return url.toString().replace(/\/+$/, '');
}

function stringValue(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses a remote verb's arguments, builds the client, runs `body`, and prints any error it
 * throws as `error: ...` (exit 1). Usage errors exit 2.
 */
export async function remoteVerb(
  spec: VerbSpec,
  argv: string[],
  io: CliIo,
  body: (client: ApiClient, args: ParsedArgs) => Promise<number>,
): Promise<number> {
  const args = parseVerbArgs(spec, argv, io);
  if (typeof args === 'number') return args;
  let options: ClientOptions;
  try {
    options = resolveClientOptions(args, io);
  } catch (error) {
    return usageError(spec, io, (error as Error).message);
  }
  try {
    return await body(new ApiClient(options), args);
  } catch (error) {
    return printError(io, error, options);
  }
}
