import { createHash } from 'node:crypto';
import { run } from './exec.js';
import { AgentError, messageOf } from './errors.js';
import { assertContainerNetns, nsRun, nsRunChecked } from './netns.js';

/**
 * Traffic control (netem) inside a container's network namespace. Faultline only ever adds a root
 * qdisc under its own handle and deletes a root qdisc only when it still has that handle (the kernel
 * also refuses `tc qdisc del ... root handle H` when the root's handle is not H).
 */

/** A root qdisc as `tc` reports it. */
export interface RootQdisc {
  kind: string;
  /** e.g. `0:` or `fa17:` */
  handle: string;
}

/** Latency added with netem. */
export interface NetemDelay {
  latencyMs: number;
  jitterMs: number;
}

/** Root qdiscs the kernel attaches by itself; a root of one of these kinds with handle `0:` is "nothing set". */
export const DEFAULT_ROOT_QDISC_KINDS: readonly string[] = ['noqueue', 'pfifo_fast', 'mq', 'fq_codel', 'fq'];

const TC_TIMEOUT_MS = 10_000;
const PROBE_HANDLE = 'fa17:';

/** Normalises a handle to tc's form, `abcd:` (lowercase hex major, no minor). */
export function normaliseHandle(handle: string): string {
  const match = /^([0-9a-fA-F]{1,4}):0*$/.exec(handle.trim()) ?? /^([0-9a-fA-F]{1,4})$/.exec(handle.trim());
  if (!match) throw new AgentError('invalid_request', `invalid qdisc handle ${JSON.stringify(handle)}: write up to 4 hex digits and a colon, e.g. fa17:`);
  const major = parseInt(match[1]!, 16);
  if (major === 0 || major === 0xffff) throw new AgentError('invalid_request', `invalid qdisc handle ${JSON.stringify(handle)}: 0: and ffff: are reserved`);
  return `${major.toString(16)}:`;
}

/** The qdisc handle owned by a fault, derived from its id (never `0:` or `ffff:`). */
export function qdiscHandleForFault(faultId: string): string {
  const digest = createHash('sha256').update(faultId).digest();
  const major = (digest.readUInt16BE(0) % 0xfffe) + 1;
  return `${major.toString(16)}:`;
}

function assertDevice(dev: string): void {
  // Interface names: at most 15 characters, no '/', no whitespace. We are stricter.
  if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}$/.test(dev)) {
    throw new AgentError('invalid_request', `invalid network device name ${JSON.stringify(dev)}`);
  }
}

function msArg(ms: number, what: string): string {
  if (!Number.isFinite(ms) || ms < 0) throw new AgentError('invalid_request', `invalid ${what} ${String(ms)} ms`);
  return Number.isInteger(ms) ? `${ms}ms` : `${Math.round(ms * 1000)}us`;
}

/** The exact argv (beginning with `tc`) that adds the netem delay qdisc. */
export function netemDelayCommands(dev: string, handle: string, delay: NetemDelay): string[][] {
  assertDevice(dev);
  const args = ['tc', 'qdisc', 'add', 'dev', dev, 'root', 'handle', normaliseHandle(handle), 'netem', 'delay', msArg(delay.latencyMs, 'latency')];
  if (delay.jitterMs > 0) args.push(msArg(delay.jitterMs, 'jitter'));
  return [args];
}

/** The exact argv (beginning with `tc`) that deletes our root qdisc; the kernel refuses if the handle differs. */
export function netemRevertCommands(dev: string, handle: string): string[][] {
  assertDevice(dev);
  return [['tc', 'qdisc', 'del', 'dev', dev, 'root', 'handle', normaliseHandle(handle)]];
}

/** The exact argv (beginning with `tc`) that lists the qdiscs of `dev` as JSON, for {@link parseRootQdisc}. */
export function qdiscShowCommand(dev: string): string[] {
  assertDevice(dev);
  return ['tc', '-j', 'qdisc', 'show', 'dev', dev];
}

/**
 * The exact argv (beginning with `unshare`) of the netem probe of {@link detectNetem}: a netem qdisc
 * on the loopback of a throw-away network namespace. Exit code 0 means the kernel has netem.
 */
export function netemProbeCommand(): string[] {
  return ['unshare', '-n', 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'handle', PROBE_HANDLE, 'netem', 'delay', '1ms'];
}

/** True when the root qdisc is one the kernel attached by itself (nothing configured). */
export function isDefaultRootQdisc(root: RootQdisc | null): boolean {
  return root === null || (root.handle === '0:' && DEFAULT_ROOT_QDISC_KINDS.includes(root.kind));
}

/** Parses `tc -j qdisc show dev DEV` and returns the root qdisc, or null. */
export function parseRootQdisc(json: string): RootQdisc | null {
  const list = JSON.parse(json || '[]') as Array<{ kind?: string; handle?: string; root?: boolean }>;
  const root = list.find((q) => q.root === true);
  if (!root || typeof root.kind !== 'string' || typeof root.handle !== 'string') return null;
  return { kind: root.kind, handle: root.handle };
}

/** The root qdisc of `dev` in `pid`'s namespace; null when the device has none or does not exist. */
export async function getRootQdisc(pid: number, dev: string): Promise<RootQdisc | null> {
  const [cmd, ...args] = qdiscShowCommand(dev);
  const result = await nsRun(pid, cmd!, args, { timeoutMs: TC_TIMEOUT_MS });
  if (result.code !== 0) {
    if (/Cannot find device/i.test(result.stderr)) return null;
    throw new AgentError('internal', `tc qdisc show dev ${dev} failed in the namespace of pid ${pid}: ${result.stderr.trim()}`);
  }
  return parseRootQdisc(result.stdout);
}

/**
 * Whether this kernel has netem, found without touching any real interface: a throw-away network
 * namespace (`unshare -n`, gone with the process) gets a netem qdisc on its loopback.
 */
export async function detectNetem(): Promise<{ supported: boolean; reason?: string }> {
  try {
    const [cmd, ...args] = netemProbeCommand();
    const result = await run(cmd!, args, { timeoutMs: 5_000 });
    if (result.code === 0) return { supported: true };
    return { supported: false, reason: result.stderr.trim() || `exit code ${String(result.code)}` };
  } catch (error) {
    return { supported: false, reason: messageOf(error) };
  }
}

/**
 * Adds a netem delay as the root qdisc of `dev` in `pid`'s namespace under `handle` (see
 * {@link addRootQdisc}).
 */
export async function applyNetemDelay(pid: number, dev: string, handle: string, delay: NetemDelay): Promise<void> {
  await addRootQdisc(pid, dev, handle, 'netem', netemDelayCommands(dev, normaliseHandle(handle), delay));
}

/**
 * The one way the agent adds a root qdisc: checks that `pid`'s namespace is a container's, refuses
 * when `dev` already has a root qdisc that is not a kernel default (someone's shaping, or another
 * fault: never replaced), runs `commands`, then checks that the root is ours. A refusal is a
 * `conflict` marked {@link NOTHING_ADDED}, so an undo leaves the existing root alone.
 */
export async function addRootQdisc(pid: number, dev: string, handle: string, kind: string, commands: string[][]): Promise<void> {
  const ours = normaliseHandle(handle);
  await assertContainerNetns(pid);
  const root = await getRootQdisc(pid, dev);
  if (root === null) {
    throw new AgentError('conflict', `the namespace of pid ${pid} has no device ${dev}`, { details: { [NOTHING_ADDED]: true, dev, pid } });
  }
  if (!isDefaultRootQdisc(root)) {
    throw new AgentError(
      'conflict',
      `device ${dev} already has a root qdisc "${root.kind} ${root.handle}" that Faultline did not create for this fault; it is never replaced: remove it or end the fault that added it, then retry`,
      { details: { [NOTHING_ADDED]: true, dev, pid, root } },
    );
  }
  for (const argv of commands) await nsRunChecked(pid, argv[0]!, argv.slice(1), { timeoutMs: TC_TIMEOUT_MS });
  const after = await getRootQdisc(pid, dev);
  if (after?.handle !== ours || after.kind !== kind) {
    throw new AgentError('fault_failed', `tc reported success but the root qdisc of ${dev} is ${after ? `${after.kind} ${after.handle}` : 'missing'}, not ${kind} ${ours}`);
  }
}

/** Marks (in an error's `details`) a refusal that changed nothing on the host: there is nothing to undo. */
export const NOTHING_ADDED = 'nothingAdded';

/** True when `error` is a refusal that changed nothing on the host (see {@link NOTHING_ADDED}). */
export function nothingAdded(error: unknown): boolean {
  const details = (error as { details?: unknown } | null)?.details;
  return typeof details === 'object' && details !== null && (details as Record<string, unknown>)[NOTHING_ADDED] === true;
}

/**
 * Deletes the root qdisc of `dev` in `pid`'s namespace if (and only if) it has our handle. Idempotent;
 * throws `revert_failed` if our handle is still the root afterwards.
 */
export async function removeOwnedQdisc(pid: number, dev: string, handle: string): Promise<void> {
  const ours = normaliseHandle(handle);
  const root = await getRootQdisc(pid, dev);
  if (root?.handle !== ours) return;
  const [argv] = netemRevertCommands(dev, ours);
  const result = await nsRun(pid, argv![0]!, argv!.slice(1), { timeoutMs: TC_TIMEOUT_MS });
  const after = await getRootQdisc(pid, dev);
  if (after?.handle === ours) {
    throw new AgentError('revert_failed', `qdisc ${ours} is still the root of ${dev} in the namespace of pid ${pid}: ${result.stderr.trim()}`, {
      details: { dev, pid, handle: ours },
    });
  }
}
