import { AgentError } from './errors.js';
import { addRootQdisc, normaliseHandle } from './tc.js';

/**
 * Bandwidth limits with a token bucket filter (`tbf`) as the root qdisc of a device in a container's
 * network namespace, under a handle derived from the fault id. A root qdisc shapes what leaves the
 * device, so the limit applies to what the container sends (its responses, its uploads), not to
 * what it receives (that would need an `ifb` device). Faultline adds the qdisc only when the root is
 * a kernel default and deletes it only while the root still has our handle (see tc.ts).
 */


/** Smallest bucket: a full Ethernet frame must fit, with room for a few (GSO packets are split). */
export const MIN_BURST_BYTES = 4096;
/** The bucket holds this much time at the configured rate, when that is more than the minimum. */
export const BURST_MS = 10;
/** The most time a packet may wait in the queue before tbf drops it (sets the queue length). */
export const TBF_LATENCY_MS = 200;

const UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/**
 * Bits per second of a rate such as `1mbit`, `512kbit` or `1.5gbit` (decimal units, as `tc` reads
 * them: 1mbit = 1 000 000 bit/s).
 */
export function parseRate(rate: string): number {
  const match = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/.exec(rate);
  const bits = match ? Math.round(Number(match[1]) * UNITS[match[2]!]!) : Number.NaN;
  if (!match || !Number.isFinite(bits) || bits < 1) {
    throw new AgentError('invalid_request', `invalid rate ${JSON.stringify(rate)}: write a positive number with bit, kbit, mbit or gbit, e.g. 1mbit`);
  }
  return bits;
}

/** The token bucket size in bytes for a rate: {@link BURST_MS} worth of data, at least {@link MIN_BURST_BYTES}. */
export function burstBytes(bitsPerSecond: number): number {
  return Math.max(MIN_BURST_BYTES, Math.ceil((bitsPerSecond / 8) * (BURST_MS / 1000)));
}

function assertDevice(dev: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}$/.test(dev)) throw new AgentError('invalid_request', `invalid network device name ${JSON.stringify(dev)}`);
}

/** The exact argv (beginning with `tc`) that adds our tbf root qdisc. The rate is passed in bit/s. */
export function tbfCommands(dev: string, handle: string, rate: string): string[][] {
  assertDevice(dev);
  const bits = parseRate(rate);
  return [
    ['tc', 'qdisc', 'add', 'dev', dev, 'root', 'handle', normaliseHandle(handle), 'tbf', 'rate', `${bits}bit`, 'burst', String(burstBytes(bits)), 'latency', `${TBF_LATENCY_MS}ms`],
  ];
}

/** Adds the tbf root qdisc to `dev` in `pid`'s namespace under `handle` (see {@link addRootQdisc}). */
export async function applyTbf(pid: number, dev: string, handle: string, rate: string): Promise<void> {
  await addRootQdisc(pid, dev, handle, 'tbf', tbfCommands(dev, normaliseHandle(handle), rate));
}

