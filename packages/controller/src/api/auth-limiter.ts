import { isIPv6 } from 'node:net';

/** Options of {@link AuthFailureLimiter}. */
export interface AuthFailureLimiterOptions {
  /** Failed attempts from one address within `windowMs` that trigger a block. Default 10. */
  maxFailures?: number;
  /** Counting window, and length of a block. Default 10 000 ms. */
  windowMs?: number;
  /** Most addresses remembered at once; the least recently seen is forgotten beyond it. Default 10 000. */
  maxTracked?: number;
  /** Clock (tests). Default `Date.now`. */
  now?: () => number;
}

/** The answer of {@link AuthFailureLimiter.check}. */
export type AuthVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Entry {
  failures: number;
  windowStart: number;
  blockedUntil: number;
}

/**
 * Counts failed authentications per remote address (IPv6 per /64) and blocks an address that failed
 * `maxFailures` times within `windowMs`: while blocked, every authenticated request from it is
 * answered 429 without looking at its token, so a blocked client cannot go on guessing. Memory is
 * bounded by `maxTracked` entries whatever the number of addresses.
 */
export class AuthFailureLimiter {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly maxTracked: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: AuthFailureLimiterOptions = {}) {
    this.maxFailures = options.maxFailures ?? 10;
    this.windowMs = options.windowMs ?? 10_000;
    this.maxTracked = options.maxTracked ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Addresses remembered now (never more than `maxTracked`). */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether an attempt from `address` may be evaluated; when not, how long it must wait. */
  check(address: string | undefined): AuthVerdict {
    const entry = this.#entries.get(addressKey(address));
    if (!entry) return { allowed: true };
    const now = this.#now();
    if (entry.blockedUntil > now) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((entry.blockedUntil - now) / 1000)) };
    return { allowed: true };
  }

  /** Records a failed attempt; returns true when it started a block. */
  fail(address: string | undefined): boolean {
    const key = addressKey(address);
    const now = this.#now();
    let entry = this.#entries.get(key);
    if (entry) this.#entries.delete(key); // re-inserted below: Map order is least recently seen first
    if (!entry || now - entry.windowStart >= this.windowMs) {
      entry = { failures: 0, windowStart: now, blockedUntil: entry && entry.blockedUntil > now ? entry.blockedUntil : 0 };
    }
    entry.failures += 1;
    let blocked = false;
    if (entry.failures >= this.maxFailures && entry.blockedUntil <= now) {
      entry.blockedUntil = now + this.windowMs;
      blocked = true;
    }
    this.#entries.set(key, entry);
    while (this.#entries.size > this.maxTracked) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    return blocked;
  }
}

/** One key per client: IPv4 addresses as they are (also when IPv4-mapped), IPv6 by their /64. */
export function addressKey(address: string | undefined): string {
  if (!address) return '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
