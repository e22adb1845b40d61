import { describe, expect, it } from 'vitest';
import { parseNetworkBandwidthParams } from '../src/faults/network-bandwidth.js';
import { parseNetworkBlackholeParams } from '../src/faults/network-blackhole.js';
import { parseNetworkLossParams } from '../src/faults/network-loss.js';
import { burstBytes, parseRate, tbfCommands } from '../src/host/bandwidth.js';
import { chainNameForFault, isOwnedChain, savedMentionsChain } from '../src/host/iptables.js';
import { blackholeChainSpecs, filterChainCommands, lossChainSpec, lossProbability, normaliseCidr } from '../src/host/packet-filter.js';
import { qdiscHandleForFault } from '../src/host/tc.js';

// Pure functions: the exact commands the network fault drivers run, and their parameter checks.

const FAULT = 'run-1-s0-0';
const CHAIN = chainNameForFault(FAULT);

describe('network fault chain names', () => {
  it('derives per-direction names that Faultline owns, and only those', () => {
    expect(chainNameForFault(FAULT, 'in')).toBe(`${CHAIN}-in`);
    expect(chainNameForFault(FAULT, 'out')).toBe(`${CHAIN}-out`);
    for (const name of [CHAIN, `${CHAIN}-in`, `${CHAIN}-out`]) expect(isOwnedChain(name)).toBe(true);
    for (const name of [`${CHAIN}-x`, `${CHAIN}-inn`, 'FL-USER-in', 'INPUT']) expect(isOwnedChain(name)).toBe(false);
    expect(`${CHAIN}-out`.length).toBeLessThanOrEqual(28);
  });

  it('finds a chain in iptables-save output only as a whole name', () => {
    const saved = `*filter\n:INPUT ACCEPT [0:0]\n:${CHAIN}-in - [0:0]\n-A INPUT ! -i lo -m comment --comment "faultline:x" -j ${CHAIN}-in\nCOMMIT\n`;
    expect(savedMentionsChain(saved, `${CHAIN}-in`)).toBe(true);
    expect(savedMentionsChain(saved, CHAIN)).toBe(false);
    expect(savedMentionsChain(saved, `${CHAIN}-out`)).toBe(false);
    expect(savedMentionsChain(`-A INPUT -j ${CHAIN}`, CHAIN)).toBe(true);
    expect(savedMentionsChain(`:${CHAIN} - [0:0]`, CHAIN)).toBe(true);
  });
});

describe('network-loss commands', () => {
  it('drops arriving packets at random in its own chain hooked into INPUT, never on loopback', () => {
    expect(filterChainCommands([lossChainSpec(FAULT, 30)], 'faultline:f')).toEqual([
      ['iptables', '-w', '5', '-t', 'filter', '-N', CHAIN],
      ['iptables', '-w', '5', '-t', 'filter', '-A', CHAIN, '-m', 'statistic', '--mode', 'random', '--probability', '0.3', '-j', 'DROP'],
      ['iptables', '-w', '5', '-t', 'filter', '-I', 'INPUT', '1', '!', '-i', 'lo', '-m', 'comment', '--comment', 'faultline:f', '-j', CHAIN],
    ]);
  });

  it('limits the drop to TCP ports of the container, and drops everything at 100%', () => {
    expect(lossChainSpec(FAULT, 100, [80, 443]).rules).toEqual([
      ['-p', 'tcp', '-m', 'conntrack', '--ctorigdstport', '80', '-j', 'DROP'],
      ['-p', 'tcp', '-m', 'conntrack', '--ctorigdstport', '443', '-j', 'DROP'],
    ]);
    expect(lossProbability(12.5)).toBe('0.125');
    expect(lossProbability(0.0001)).toBe('0.000001');
    expect(() => lossProbability(0)).toThrow(/invalid loss percent/);
    expect(() => lossProbability(101)).toThrow(/invalid loss percent/);
    expect(() => lossChainSpec(FAULT, 10, [0])).toThrow(/invalid port/);
  });

  it('validates params', () => {
    expect(parseNetworkLossParams({ percent: 50, ports: [80, 80] })).toEqual({ percent: 50, ports: [80] });
    expect(parseNetworkLossParams({ percent: 5 })).toEqual({ percent: 5 });
    expect(() => parseNetworkLossParams({})).toThrow(/invalid percent/);
    expect(() => parseNetworkLossParams({ percent: 50, ports: [] })).toThrow(/invalid ports/);
  });
});

describe('network-blackhole commands', () => {
  it('drops everything in and out by default, in two chains, never on loopback', () => {
    expect(filterChainCommands(blackholeChainSpecs(FAULT, {}), 'faultline:f')).toEqual([
      ['iptables', '-w', '5', '-t', 'filter', '-N', `${CHAIN}-in`],
      ['iptables', '-w', '5', '-t', 'filter', '-N', `${CHAIN}-out`],
      ['iptables', '-w', '5', '-t', 'filter', '-A', `${CHAIN}-in`, '-j', 'DROP'],
      ['iptables', '-w', '5', '-t', 'filter', '-A', `${CHAIN}-out`, '-j', 'DROP'],
      ['iptables', '-w', '5', '-t', 'filter', '-I', 'INPUT', '1', '!', '-i', 'lo', '-m', 'comment', '--comment', 'faultline:f', '-j', `${CHAIN}-in`],
      ['iptables', '-w', '5', '-t', 'filter', '-I', 'OUTPUT', '1', '!', '-o', 'lo', '-m', 'comment', '--comment', 'faultline:f', '-j', `${CHAIN}-out`],
    ]);
  });

  it('matches ports on either end and peers by direction; both lists must match together', () => {
    const [input, output] = blackholeChainSpecs(FAULT, { ports: [5432], cidrs: ['10.1.2.3', '192.168.0.0/16'] });
    const port = ['-p', 'tcp', '-m', 'conntrack', '--ctorigdstport', '5432'];
    expect(input.rules).toEqual([
      ['-s', '10.1.2.3/32', ...port, '-j', 'DROP'],
      ['-s', '192.168.0.0/16', ...port, '-j', 'DROP'],
    ]);
    expect(output.rules).toEqual([
      ['-d', '10.1.2.3/32', ...port, '-j', 'DROP'],
      ['-d', '192.168.0.0/16', ...port, '-j', 'DROP'],
    ]);
  });

  it('validates CIDRs and params', () => {
    expect(normaliseCidr('10.0.0.0/8')).toBe('10.0.0.0/8');
    for (const bad of ['10.0.0.256', '10.0.0.0/33', '10.0.0', '::1', '10.0.0.0/8; rm -rf /']) expect(() => normaliseCidr(bad)).toThrow(/invalid CIDR/);
    expect(parseNetworkBlackholeParams({})).toEqual({});
    expect(parseNetworkBlackholeParams({ ports: [80], cidrs: ['172.17.0.2', '172.17.0.2/32'] })).toEqual({ ports: [80], cidrs: ['172.17.0.2/32'] });
    expect(() => parseNetworkBlackholeParams({ cidrs: [] })).toThrow(/invalid cidrs/);
    expect(() => parseNetworkBlackholeParams({ cidrs: ['-j ACCEPT'] })).toThrow(/invalid CIDR/);
  });
});

describe('network-bandwidth commands', () => {
  it('adds a tbf root qdisc under the fault’s handle, rate in bit/s', () => {
    const handle = qdiscHandleForFault(FAULT);
    expect(tbfCommands('eth0', handle, '1mbit')).toEqual([
      ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'handle', handle, 'tbf', 'rate', '1000000bit', 'burst', '4096', 'latency', '200ms'],
    ]);
    expect(tbfCommands('eth0', handle, '1.5gbit')[0]).toEqual(expect.arrayContaining(['1500000000bit', String(burstBytes(1.5e9))]));
    expect(burstBytes(1.5e9)).toBe(1_875_000);
    expect(() => tbfCommands('eth0', '0:', '1mbit')).toThrow(/reserved/);
    expect(() => tbfCommands('eth0 root', handle, '1mbit')).toThrow(/invalid network device/);
  });

  it('reads rates in decimal units and rejects others', () => {
    expect(parseRate('512kbit')).toBe(512_000);
    expect(parseRate('1mbit')).toBe(1_000_000);
    expect(parseRate('100bit')).toBe(100);
    for (const bad of ['0bit', '1 mbit', '1MB', 'fast', '1mbps']) expect(() => parseRate(bad)).toThrow(/invalid rate/);
    expect(parseNetworkBandwidthParams({ rate: '2mbit' })).toEqual({ rate: '2mbit' });
    expect(() => parseNetworkBandwidthParams({})).toThrow(/invalid rate/);
  });
});
