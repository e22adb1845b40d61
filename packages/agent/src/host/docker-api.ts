import { request, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as tlsRequest } from 'node:https';

/**
 * A minimal Docker Engine API client over node:http: only the calls the agent makes. It replaces
 * dockerode, whose require alone cost ~23 MiB of RSS (it loads grpc-js, protobufjs and ssh2).
 *
 * Paths carry an API version prefix: on first use the client asks the engine (GET /version) and
 * uses the lower of the engine's version and {@link MAX_API_VERSION}, as the docker CLI does; if
 * that fails it uses {@link MAX_API_VERSION}.
 */

/** The newest Engine API version this client speaks (Docker 20.10). */
export const MAX_API_VERSION = '1.41';

/** Where the engine listens: a unix socket, or a TCP endpoint (plain http, or https with the system's CAs). */
export type DockerEndpoint = { socketPath: string } | { host: string; port: number; tls?: boolean };

/** An error answer of the engine; `statusCode` and `json.message` as dockerode reports them. */
export class DockerApiError extends Error {
  readonly statusCode: number;
  readonly json: { message?: string } | null;

  constructor(method: string, path: string, statusCode: number, body: string) {
    let json: { message?: string } | null = null;
    try {
      const parsed = JSON.parse(body) as unknown;
      if (parsed && typeof parsed === 'object') json = parsed;
    } catch {
      // not JSON: keep the text in the message
    }
    const detail = typeof json?.message === 'string' ? json.message : body.trim();
    super(`${method} ${path}: HTTP ${statusCode}${detail ? `: ${detail}` : ''}`);
    this.name = 'DockerApiError';
    this.statusCode = statusCode;
    this.json = json;
  }
}

/**
 * Parses a DOCKER_HOST-style string: `unix:///path`, `/path`, `tcp://host:port` or `http://` (plain
 * http, port 2375 by default), `https://host:port` (server checked against the system's CAs; no
 * client certificates; port 2376 by default).
 */
export function dockerEndpointFromHost(dockerHost: string | undefined): DockerEndpoint {
  if (!dockerHost) return { socketPath: '/var/run/docker.sock' };
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  if (dockerHost.startsWith('/')) return { socketPath: dockerHost };
  let url: URL;
  try {
    url = new URL(dockerHost);
  } catch {
    throw new Error(`unsupported Docker host ${JSON.stringify(dockerHost)}: use unix:///path or tcp://host:port`);
  }
  if (url.protocol !== 'tcp:' && url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`unsupported Docker host ${JSON.stringify(dockerHost)}: use unix://, tcp:// or https:// (ssh:// is not supported)`);
  }
  const tls = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : tls ? 2376 : 2375;
  return tls ? { host, port, tls } : { host, port };
}

/** A container as GET /containers/json lists it (the fields the agent reads). */
export interface ApiContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  Labels?: Record<string, string> | null;
}

/** A container as GET /containers/{id}/json reports it (the fields the agent reads). */
export interface ApiContainerInspect {
  Id: string;
  Name: string;
  Image: string;
  RestartCount: number;
  State: { Status: string; Running: boolean; Paused: boolean; Pid: number; ExitCode: number; StartedAt: string };
  Config?: { Image?: string; Labels?: Record<string, string> | null; ExposedPorts?: Record<string, unknown> | null } | null;
  HostConfig?: { NetworkMode?: string; AutoRemove?: boolean } | null;
}

type Query = Record<string, string | number | boolean | undefined>;

export class DockerApi {
  readonly endpoint: DockerEndpoint;
  #prefix: Promise<string> | undefined;

  constructor(endpoint: DockerEndpoint = { socketPath: '/var/run/docker.sock' }) {
    this.endpoint = endpoint;
  }

  /** GET /_ping. */
  async ping(): Promise<void> {
    await this.#call('GET', '/_ping', {}, false);
  }

  /** GET /containers/json; `all: false` lists only running containers. */
  async listContainers(options: { all?: boolean } = {}): Promise<ApiContainerSummary[]> {
    return JSON.parse(await this.#call('GET', '/containers/json', { all: options.all ?? false })) as ApiContainerSummary[];
  }

  /** GET /containers/{id}/json. */
  async inspectContainer(id: string): Promise<ApiContainerInspect> {
    return JSON.parse(await this.#call('GET', `/containers/${encodeURIComponent(id)}/json`)) as ApiContainerInspect;
  }

  async killContainer(id: string, signal: string): Promise<void> {
    await this.#call('POST', `/containers/${encodeURIComponent(id)}/kill`, { signal });
  }

  async pauseContainer(id: string): Promise<void> {
    await this.#call('POST', `/containers/${encodeURIComponent(id)}/pause`);
  }

  async unpauseContainer(id: string): Promise<void> {
    await this.#call('POST', `/containers/${encodeURIComponent(id)}/unpause`);
  }

  /** POST /containers/{id}/stop; an already stopped container answers 304 (thrown like any other status). */
  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.#call('POST', `/containers/${encodeURIComponent(id)}/stop`, { t: timeoutSeconds });
  }

  /** POST /containers/{id}/start; an already running container answers 304 (thrown). */
  async startContainer(id: string): Promise<void> {
    await this.#call('POST', `/containers/${encodeURIComponent(id)}/start`);
  }

  async restartContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.#call('POST', `/containers/${encodeURIComponent(id)}/restart`, { t: timeoutSeconds });
  }

  /**
   * GET /events: resolves once the engine has answered 200 with the open response stream of
   * newline-delimited JSON. Destroy the stream (or abort `signal`) to end it; aborting before the
   * answer rejects with an AbortError.
   */
  async events(filters: Record<string, string[]>, signal?: AbortSignal): Promise<IncomingMessage> {
    const path = `${await this.#versionPrefix()}/events${queryString({ filters: JSON.stringify(filters) })}`;
    const response = await this.#send('GET', path, signal);
    if (response.statusCode !== 200) throw await errorOf('GET', path, response);
    return response;
  }

  /** The `/v1.xx` prefix, negotiated once. */
  #versionPrefix(): Promise<string> {
    this.#prefix ??= (async () => {
      try {
        const { ApiVersion } = JSON.parse(await this.#call('GET', '/version', {}, false)) as { ApiVersion?: unknown };
        if (typeof ApiVersion === 'string' && /^\d+\.\d+$/.test(ApiVersion) && compareVersions(ApiVersion, MAX_API_VERSION) < 0) {
          return `/v${ApiVersion}`;
        }
      } catch {
        // Fall back to our version below; the next call reports an unreachable engine.
      }
      return `/v${MAX_API_VERSION}`;
    })();
    return this.#prefix;
  }

  async #call(method: string, path: string, query: Query = {}, versioned = true): Promise<string> {
    const full = `${versioned ? await this.#versionPrefix() : ''}${path}${queryString(query)}`;
    const response = await this.#send(method, full);
    if (response.statusCode === undefined || response.statusCode < 200 || response.statusCode >= 300) {
      throw await errorOf(method, full, response);
    }
    return readBody(response);
  }

  #send(method: string, path: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const options: RequestOptions = { method, path, headers: { host: 'docker' } };
    if (signal) options.signal = signal;
    if ('socketPath' in this.endpoint) options.socketPath = this.endpoint.socketPath;
    else {
      options.host = this.endpoint.host;
      options.port = this.endpoint.port;
    }
    const tls = 'tls' in this.endpoint && this.endpoint.tls === true;
    return new Promise((resolve, reject) => {
      const req = (tls ? tlsRequest : request)(options, resolve);
      req.on('error', reject);
      req.end();
    });
  }
}

function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.on('error', reject);
  });
}

async function errorOf(method: string, path: string, response: IncomingMessage): Promise<DockerApiError> {
  let body = '';
  try {
    body = await readBody(response);
  } catch {
    // the status alone has to do
  }
  return new DockerApiError(method, path, response.statusCode ?? 0, body);
}

function compareVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}
