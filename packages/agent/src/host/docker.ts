import { runInNewContext } from 'node:vm';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { DockerApi, dockerEndpointFromHost, type ApiContainerInspect, type ApiContainerSummary } from './docker-api.js';
import { AgentError, messageOf } from './errors.js';

/** A running container as discovery reports it. */
export interface ContainerInfo {
  id: string;
  /** Without Docker's leading slash. */
  name: string;
  labels: Record<string, string>;
  state: string;
  image: string;
  /** Only known after an inspect; discovery leaves it out. */
  pid?: number;
}

/** What {@link DockerHost.inspect} reports about one container. */
export interface ContainerDetails {
  id: string;
  name: string;
  /** Host pid of the container's init process; 0 when not running. */
  pid: number;
  running: boolean;
  paused: boolean;
  /** Docker's status string: created, running, paused, restarting, exited, dead. */
  status: string;
  exitCode: number;
  restartCount: number;
  exposedTcpPorts: number[];
  startedAt: string;
  labels: Record<string, string>;
  image: string;
  /** `bridge`, `host`, `none`, `container:<id>`, or a network name. */
  networkMode: string;
  /** Started with `--rm` (HostConfig.AutoRemove): Docker removes it once it stops. */
  autoRemove?: boolean;
}

/** Conditions a container must all meet to be a candidate; an empty filter matches every container. */
export interface CandidateFilter {
  labels?: Record<string, string>;
  /** A regular expression tested against the container name (not anchored unless it says so). */
  namePattern?: string;
  names?: string[];
}

/** A container lifecycle event from Docker. */
export interface ContainerEvent {
  /** Docker's action: start, die, stop, kill, pause, unpause, restart, destroy, ... */
  action: string;
  id: string;
  name: string;
  /** Present on `die`. */
  exitCode?: number;
  /** Epoch milliseconds. */
  time: number;
  attributes: Record<string, string>;
}

/** Options of {@link DockerHost}. */
export interface DockerHostOptions {
  /** A ready client; wins over the other options. */
  docker?: DockerApi;
  /** Docker endpoint as in DOCKER_HOST (`unix:///var/run/docker.sock`, `tcp://host:2375`). Default the local socket. */
  dockerHost?: string;
  /** Ids of the agent's own container; default read from /proc/self. */
  selfContainerIds?: string[];
}

/** Label that keeps a container out of every selection when set to `true`. */
export const PROTECTED_LABEL = 'faultline.protected';
/** Label that names Faultline's own containers (`controller`, `agent`), which are never targets. */
export const ROLE_LABEL = 'faultline.role';
const PROTECTED_ROLES = new Set(['controller', 'agent']);

const CONTAINER_ID = /^[0-9a-f]{64}$/;

/** Parses a DOCKER_HOST-style string (`unix:///path` or plain `tcp://host:port`). */
export { dockerEndpointFromHost } from './docker-api.js';

/**
 * Ids of the container a process runs in, from the text of its /proc/<pid>/cgroup and
 * /proc/<pid>/mountinfo. Empty when it runs on the host.
 *
 * mountinfo is read only for the files Docker bind-mounts into every container (/etc/hostname,
 * /etc/hosts, /etc/resolv.conf): on the host itself mountinfo also lists other containers' shm
 * mounts, which must not count.
 */
export function parseSelfContainerIds(cgroup: string, mountinfo: string): string[] {
  const ids = new Set<string>();
  for (const line of cgroup.split('\n')) {
    const path = line.split(':').slice(2).join(':');
    for (const match of path.matchAll(/(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?=\/|$)/g)) ids.add(match[1]!);
  }
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    if (!root || !mountPoint) continue;
    if (mountPoint !== '/etc/hostname' && mountPoint !== '/etc/hosts' && mountPoint !== '/etc/resolv.conf') continue;
    const match = /\/containers\/([0-9a-f]{64})\//.exec(root);
    if (match) ids.add(match[1]!);
  }
  return [...ids];
}

function readSelfContainerIds(): string[] {
  const read = (path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  return parseSelfContainerIds(read('/proc/self/cgroup'), read('/proc/self/mountinfo'));
}

function sameContainerId(a: string, b: string): boolean {
  if (a.length >= 12 && b.length >= 12) return a.startsWith(b) || b.startsWith(a);
  return a === b;
}

/** True when the container must never be a target: labelled protected, Faultline's own, or the agent's container. */
export function isProtectedContainer(info: { id: string; labels: Record<string, string> }, selfIds: readonly string[]): boolean {
  if (info.labels[PROTECTED_LABEL] === 'true') return true;
  const role = info.labels[ROLE_LABEL];
  if (role !== undefined && PROTECTED_ROLES.has(role)) return true;
  return selfIds.some((self) => sameContainerId(self, info.id));
}

/**
 * The containers that meet every given condition of `filter`, protected ones excluded.
 * Throws an `invalid_request` error when `namePattern` is not a valid regular expression.
 */
export function filterCandidates(
  containers: readonly ContainerInfo[],
  filter: CandidateFilter,
  selfIds: readonly string[] = [],
): ContainerInfo[] {
  let pattern: RegExp | undefined;
  if (filter.namePattern !== undefined) {
    try {
      pattern = new RegExp(filter.namePattern);
    } catch (error) {
      throw new AgentError('invalid_request', `invalid namePattern ${JSON.stringify(filter.namePattern)}: ${messageOf(error)}`);
    }
  }
  const names = filter.names === undefined ? undefined : new Set(filter.names);
  const labels = Object.entries(filter.labels ?? {});
  const candidates = containers.filter((container) => {
    if (isProtectedContainer(container, selfIds)) return false;
    if (labels.some(([key, value]) => container.labels[key] !== value)) return false;
    if (names && !names.has(container.name)) return false;
    return true;
  });
  if (!pattern) return candidates;
  const matched = matchNames(pattern, candidates.map((container) => container.name));
  return candidates.filter((_container, index) => matched[index]);
}

/** How long a manifest's `namePattern` may run over all container names before it is refused. */
export const NAME_PATTERN_BUDGET_MS = 200;

/**
 * Tests the names in a separate V8 context with a time limit, so a catastrophic pattern such as
 * `^(a+)+$` cannot block the agent's event loop (and with it its deadline and lease timers).
 */
function matchNames(pattern: RegExp, names: string[]): boolean[] {
  try {
    return runInNewContext('names.map((name) => pattern.test(name))', { pattern, names }, { timeout: NAME_PATTERN_BUDGET_MS }) as boolean[];
  } catch (error) {
    throw new AgentError(
      'invalid_request',
      `namePattern ${JSON.stringify(pattern.source)} took over ${NAME_PATTERN_BUDGET_MS}ms on ${names.length} container name(s) (${messageOf(error)}); simplify the pattern (avoid nested quantifiers such as (a+)+)`,
    );
  }
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

function dockerError(error: unknown, what: string): AgentError {
  const code = statusCode(error);
  if (code === 404) return new AgentError('not_found', `${what}: no such container`, { cause: error });
  if (code === 409) return new AgentError('conflict', `${what}: ${dockerMessage(error)}`, { cause: error });
  return new AgentError('internal', `${what}: ${dockerMessage(error)}`, { retryable: true, cause: error });
}

function dockerMessage(error: unknown): string {
  const json = (error as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === 'string') return json.message;
  return messageOf(error);
}

/** The Docker engine of this host, as the agent needs it. */
export class DockerHost {
  readonly docker: DockerApi;
  #selfIds: string[] | undefined;

  constructor(options: DockerHostOptions = {}) {
    this.docker = options.docker ?? new DockerApi(dockerEndpointFromHost(options.dockerHost));
    this.#selfIds = options.selfContainerIds;
  }

  /** Checks that the engine answers. */
  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw new AgentError('internal', `Docker engine does not answer: ${messageOf(error)}`, { retryable: true, cause: error });
    }
  }

  /** Running containers (protected ones included; see {@link filterCandidates}). */
  async listContainers(): Promise<ContainerInfo[]> {
    let list: ApiContainerSummary[];
    try {
      list = await this.docker.listContainers({ all: false });
    } catch (error) {
      throw dockerError(error, 'listing containers');
    }
    return list.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
      labels: { ...(c.Labels ?? {}) },
      state: c.State,
      image: c.Image,
    }));
  }

  /** One container's state. Throws `not_found` when it does not exist. */
  async inspect(id: string): Promise<ContainerDetails> {
    let info: ApiContainerInspect;
    try {
      info = await this.docker.inspectContainer(id);
    } catch (error) {
      throw dockerError(error, `inspecting container ${id}`);
    }
    const exposed = Object.keys(info.Config?.ExposedPorts ?? {})
      .map((key) => /^(\d+)\/tcp$/.exec(key))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    return {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      pid: info.State.Pid,
      running: info.State.Running,
      paused: info.State.Paused,
      status: info.State.Status,
      exitCode: info.State.ExitCode,
      restartCount: info.RestartCount,
      exposedTcpPorts: [...new Set(exposed)],
      startedAt: info.State.StartedAt,
      labels: { ...(info.Config?.Labels ?? {}) },
      image: info.Config?.Image ?? info.Image,
      networkMode: info.HostConfig?.NetworkMode ?? 'default',
      autoRemove: info.HostConfig?.AutoRemove === true,
    };
  }

  /** Like {@link inspect}, but null when the container does not exist. */
  async tryInspect(id: string): Promise<ContainerDetails | null> {
    try {
      return await this.inspect(id);
    } catch (error) {
      if (error instanceof AgentError && error.code === 'not_found') return null;
      throw error;
    }
  }

  /** Sends `signal` (e.g. SIGKILL) to the container. */
  async kill(id: string, signal: string): Promise<void> {
    try {
      await this.docker.killContainer(id, signal);
    } catch (error) {
      throw dockerError(error, `sending ${signal} to container ${id}`);
    }
  }

  /** Freezes every process of the container (`docker pause`). */
  async pause(id: string): Promise<void> {
    try {
      await this.docker.pauseContainer(id);
    } catch (error) {
      throw dockerError(error, `pausing container ${id}`);
    }
  }

  /** Thaws a paused container (`docker unpause`). */
  async unpause(id: string): Promise<void> {
    try {
      await this.docker.unpauseContainer(id);
    } catch (error) {
      throw dockerError(error, `unpausing container ${id}`);
    }
  }

  /**
   * Stops the container (`docker stop -t`): its stop signal, then SIGKILL after `timeoutSeconds`.
   * A container that is already stopped is fine (Docker answers 304).
   */
  async stop(id: string, timeoutSeconds: number): Promise<void> {
    try {
      await this.docker.stopContainer(id, timeoutSeconds);
    } catch (error) {
      if (statusCode(error) === 304) return;
      throw dockerError(error, `stopping container ${id}`);
    }
  }

  /** Starts a stopped container (`docker start`). A container that is already running is fine (304). */
  async start(id: string): Promise<void> {
    try {
      await this.docker.startContainer(id);
    } catch (error) {
      if (statusCode(error) === 304) return;
      throw dockerError(error, `starting container ${id}`);
    }
  }

  /** Restarts the container (`docker restart -t`): stop with `timeoutSeconds` of grace, then start. */
  async restart(id: string, timeoutSeconds: number): Promise<void> {
    try {
      await this.docker.restartContainer(id, timeoutSeconds);
    } catch (error) {
      throw dockerError(error, `restarting container ${id}`);
    }
  }

  /** Ids of the container the agent itself runs in; empty when it runs on the host. */
  selfContainerIds(): string[] {
    this.#selfIds ??= readSelfContainerIds();
    return this.#selfIds;
  }

  /** True when the container must never be a target. */
  isProtected(info: { id: string; labels: Record<string, string> }): boolean {
    return isProtectedContainer(info, this.selfContainerIds());
  }

  /** {@link filterCandidates} with this agent's own container excluded. */
  filterCandidates(containers: readonly ContainerInfo[], filter: CandidateFilter): ContainerInfo[] {
    return filterCandidates(containers, filter, this.selfContainerIds());
  }

  /**
   * True when host process `pid` belongs to container `id` (its cgroup or mounts name the id).
   * Guards against entering the wrong namespace when pids are from another pid namespace or reused.
   */
  async pidBelongsTo(pid: number, id: string): Promise<boolean> {
    if (!CONTAINER_ID.test(id)) return false;
    for (const file of ['cgroup', 'mountinfo']) {
      try {
        const text = await readFile(`/proc/${pid}/${file}`, 'utf8');
        if (text.includes(id)) return true;
      } catch {
        return false;
      }
    }
    return false;
  }

  /**
   * Container lifecycle events (`start`, `die`, ...) until `signal` aborts. The iterator ends when the
   * engine closes the stream; callers that want to follow for ever re-subscribe. `onSubscribed` is
   * called once the engine has accepted the subscription (events from then on are not missed).
   */
  async *events(options: { actions?: string[]; signal?: AbortSignal; onSubscribed?: () => void } = {}): AsyncGenerator<ContainerEvent> {
    const { signal } = options;
    if (signal?.aborted) return;
    const filters: Record<string, string[]> = { type: ['container'] };
    if (options.actions) filters.event = options.actions;
    let stream: Readable;
    try {
      stream = await this.docker.events(filters, signal);
    } catch (error) {
      if (signal?.aborted) return;
      throw dockerError(error, 'subscribing to Docker events');
    }
    // From here on the engine delivers every event: a caller can now look for what it missed before.
    options.onSubscribed?.();
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    // A destroyed (aborted) response never emits 'end', which is what ends readline: close it here.
    const onAbort = () => {
      lines.close();
      stream.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('error', () => undefined);
    stream.on('close', () => lines.close());
    if (signal?.aborted || stream.destroyed) lines.close();
    try {
      for await (const line of lines) {
        if (!line.trim()) continue;
        let raw: {
          Action?: string;
          status?: string;
          id?: string;
          time?: number;
          timeNano?: number;
          Actor?: { ID?: string; Attributes?: Record<string, string> };
        };
        try {
          raw = JSON.parse(line) as typeof raw;
        } catch {
          continue;
        }
        const attributes = raw.Actor?.Attributes ?? {};
        const event: ContainerEvent = {
          action: raw.Action ?? raw.status ?? '',
          id: raw.Actor?.ID ?? raw.id ?? '',
          name: attributes.name ?? '',
          time: raw.timeNano ? Math.floor(raw.timeNano / 1e6) : (raw.time ?? 0) * 1000,
          attributes,
        };
        if (attributes.exitCode !== undefined) event.exitCode = Number(attributes.exitCode);
        yield event;
      }
    } catch (error) {
      if (!signal?.aborted) throw dockerError(error, 'reading Docker events');
    } finally {
      signal?.removeEventListener('abort', onAbort);
      lines.close();
      stream.destroy();
    }
  }
}
