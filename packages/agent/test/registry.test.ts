import { describe, expect, it } from 'vitest';
import { containerKillDriver, parseContainerKillParams } from '../src/faults/container-kill.js';
import { chooseMechanism, networkLatencyDriver, parseNetworkLatencyParams } from '../src/faults/network-latency.js';
import { buildRegistry, FAULT_DRIVERS } from '../src/faults/registry.js';

describe('fault registry', () => {
  it('lists every driver once by type', () => {
    const registry = buildRegistry();
    expect([...registry.keys()].sort()).toEqual(FAULT_DRIVERS.map((driver) => driver.type).sort());
    expect([...registry.keys()]).toEqual(expect.arrayContaining(['container-kill', 'container-pause', 'container-restart', 'container-stop', 'network-latency']));
    expect(registry.get('network-latency')).toBe(networkLatencyDriver);
    expect(registry.get('network-latency')?.kind).toBe('sustained');
    expect(registry.get('container-kill')?.kind).toBe('instant');
  });

  it('fails at start-up on a duplicate or a missing type', () => {
    expect(() => buildRegistry([...FAULT_DRIVERS, { ...containerKillDriver }])).toThrow(/two fault drivers declare the type container-kill/);
    expect(() => buildRegistry(FAULT_DRIVERS, { expectedTypes: ['container-kill', 'network-latency', 'no-such-fault'] })).toThrow(/no fault driver for no-such-fault/);
  });
});

describe('network-latency params', () => {
  it('takes milliseconds, or the manifest’s duration strings', () => {
    expect(parseNetworkLatencyParams({ latencyMs: 100, jitterMs: 10 })).toEqual({ latencyMs: 100, jitterMs: 10, mechanism: 'auto' });
    expect(parseNetworkLatencyParams({ latency: '300ms', jitter: '0.02s', ports: [80, 80, 443], mechanism: 'proxy' })).toEqual({
      latencyMs: 300,
      jitterMs: 20,
      ports: [80, 443],
      mechanism: 'proxy',
    });
  });
  it('rejects bad values with the field name', () => {
    expect(() => parseNetworkLatencyParams({})).toThrow(/invalid latency/);
    expect(() => parseNetworkLatencyParams({ latencyMs: 0 })).toThrow(/greater than 0/);
    expect(() => parseNetworkLatencyParams({ latencyMs: 10, ports: [] })).toThrow(/invalid ports/);
    expect(() => parseNetworkLatencyParams({ latencyMs: 10, ports: [70000] })).toThrow(/invalid ports/);
    expect(() => parseNetworkLatencyParams({ latencyMs: 10, mechanism: 'magic' })).toThrow(/invalid mechanism/);
  });
  it('chooses netem when available, the proxy otherwise or when ports are given', () => {
    expect(chooseMechanism('auto', ['netem', 'proxy'])).toBe('netem');
    expect(chooseMechanism('auto', ['netem', 'proxy'], true)).toBe('proxy');
    expect(chooseMechanism('auto', ['proxy'])).toBe('proxy');
    expect(chooseMechanism('proxy', ['netem', 'proxy'])).toBe('proxy');
    expect(() => chooseMechanism('netem', ['proxy'])).toThrow(/cannot use netem/);
    expect(() => chooseMechanism('auto', [])).toThrow(/neither/);
  });
});

describe('container-kill params', () => {
  it('defaults to SIGKILL and validates the name', () => {
    expect(parseContainerKillParams(undefined)).toEqual({ signal: 'SIGKILL' });
    expect(parseContainerKillParams({ signal: 'SIGTERM' })).toEqual({ signal: 'SIGTERM' });
    expect(() => parseContainerKillParams({ signal: 'sigterm' })).toThrow(/invalid signal/);
  });
});
