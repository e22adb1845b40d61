import { describe, expect, it } from 'vitest';
import { addressKey, AuthFailureLimiter } from '../src/api/auth-limiter.js';
import { FrameBudget } from '../src/hub/frame-budget.js';

describe('AuthFailureLimiter', () => {
  it('blocks an address after maxFailures within the window, for the window, and only that address', () => {
    let now = 1_000_000;
    const limiter = new AuthFailureLimiter({ maxFailures: 3, windowMs: 10_000, now: () => now });
    expect(limiter.fail('10.0.0.1')).toBe(false);
    expect(limiter.fail('10.0.0.1')).toBe(false);
    expect(limiter.check('10.0.0.1')).toEqual({ allowed: true });
    expect(limiter.fail('10.0.0.1')).toBe(true);
    expect(limiter.check('10.0.0.1')).toEqual({ allowed: false, retryAfterSeconds: 10 });
    expect(limiter.check('10.0.0.2')).toEqual({ allowed: true });
    now += 9_500;
    expect(limiter.check('10.0.0.1')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    now += 500;
    expect(limiter.check('10.0.0.1')).toEqual({ allowed: true });
  });

  it('forgets failures older than the window', () => {
    let now = 0;
    const limiter = new AuthFailureLimiter({ maxFailures: 3, windowMs: 1000, now: () => now });
    limiter.fail('a');
    limiter.fail('a');
    now = 1500;
    expect(limiter.fail('a')).toBe(false);
    expect(limiter.check('a').allowed).toBe(true);
  });

  it('keeps memory bounded whatever the number of addresses', () => {
    const limiter = new AuthFailureLimiter({ maxTracked: 1000 });
    for (let i = 0; i < 100_000; i++) limiter.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(limiter.size).toBe(1000);
  });

  it('groups IPv6 clients by /64 and IPv4-mapped addresses as IPv4', () => {
    expect(addressKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey(undefined)).toBe('?');
  });
});

describe('FrameBudget', () => {
  it('allows the limit per window and resets with the next window', () => {
    let now = 0;
    const budget = new FrameBudget(3, 1000, () => now);
    expect([budget.take(), budget.take(), budget.take(), budget.take()]).toEqual([true, true, true, false]);
    now = 1000;
    expect(budget.take()).toBe(true);
  });
});
