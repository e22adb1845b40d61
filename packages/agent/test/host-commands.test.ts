import { describe, expect, it } from 'vitest';
import { run, runChecked } from '../src/host/exec.js';
import { chainNameForFault, faultComment, isOwnedChain, parseRuleSpec, redirectChainCommands } from '../src/host/iptables.js';
import { buildProxyArgv, parseProxyArgv } from '../src/host/latency-proxy-server.js';
import { proxyFaultId } from '../src/host/latency-proxy.js';
import { nsenterArgs } from '../src/host/netns.js';
import {
  isDefaultRootQdisc,
  netemDelayCommands,
  netemProbeCommand,
  netemRevertCommands,
  normaliseHandle,
  parseRootQdisc,
  qdiscHandleForFault,
  qdiscShowCommand,
} from '../src/host/tc.js';

describe('exec', () => {
  it('runs argument arrays without a shell', async () => {
    const result = await run('printf', ['%s|', '$(echo injected)', 'a b']);
    expect(result).toMatchObject({ code: 0, stdout: '$(echo injected)|a b|' });
  });
  it('passes stdin and reports failures with command, code and stderr', async () => {
    expect((await run('cat', [], { input: 'hello' })).stdout).toBe('hello');
    await expect(runChecked('sh', ['-c', 'echo boom >&2; exit 3'])).rejects.toThrow(/sh -c .* exited with code 3: boom/);
  });
  it('times out', async () => {
    const result = await run('sleep', ['5'], { timeoutMs: 100 });
    expect(result.timedOut).toBe(true);
    expect(result.code).toBeNull();
  });
  it('rejects when the program does not exist', async () => {
    await expect(run('/nonexistent/program', [])).rejects.toThrow(/ENOENT/);
  });
});

describe('netns', () => {
  it('builds nsenter argv and refuses pid 0 and 1', () => {
    expect(nsenterArgs(4242, 'iptables', ['-S'])).toEqual(['-t', '4242', '-n', '--', 'iptables', '-S']);
    expect(() => nsenterArgs(1, 'iptables', [])).toThrow(/invalid process id/);
    expect(() => nsenterArgs(0, 'iptables', [])).toThrow(/invalid process id/);
  });
});

describe('iptables helpers', () => {
  it('derives an owned chain name of at most 28 characters from the fault id', () => {
    const chain = chainNameForFault('run-1:step-2:web-1');
    expect(chain).toMatch(/^FL-[0-9a-f]{12}$/);
    expect(chain.length).toBeLessThanOrEqual(28);
    expect(chainNameForFault('run-1:step-2:web-1')).toBe(chain);
    expect(chainNameForFault('run-1:step-2:web-2')).not.toBe(chain);
    expect(isOwnedChain(chain)).toBe(true);
    expect(isOwnedChain('DOCKER')).toBe(false);
    expect(isOwnedChain('FL-USER')).toBe(false);
  });

  it('builds the redirect commands and refuses foreign chain names', () => {
    const commands = redirectChainCommands('FL-0123456789ab', [{ port: 80, toPort: 40001 }], 'faultline:f1');
    expect(commands).toEqual([
      ['iptables', '-w', '5', '-t', 'nat', '-N', 'FL-0123456789ab'],
      ['iptables', '-w', '5', '-t', 'nat', '-A', 'FL-0123456789ab', '-p', 'tcp', '--dport', '80', '-j', 'REDIRECT', '--to-ports', '40001'],
      ['iptables', '-w', '5', '-t', 'nat', '-I', 'PREROUTING', '-p', 'tcp', '-m', 'comment', '--comment', 'faultline:f1', '-j', 'FL-0123456789ab'],
    ]);
    expect(() => redirectChainCommands('DOCKER', [{ port: 80, toPort: 1 }], 'x')).toThrow(/not a Faultline chain/);
    expect(() => redirectChainCommands('FL-0123456789ab', [{ port: 0, toPort: 1 }], 'x')).toThrow(/invalid port/);
  });

  it('keeps comments to safe characters', () => {
    expect(faultComment('run 1/"x"')).toBe('faultline:run_1__x_');
  });

  it('parses iptables -S lines with quoted arguments', () => {
    expect(parseRuleSpec('-A PREROUTING -p tcp -m comment --comment "a \\"quoted\\" comment" -j FL-0123456789ab')).toEqual([
      '-A', 'PREROUTING', '-p', 'tcp', '-m', 'comment', '--comment', 'a "quoted" comment', '-j', 'FL-0123456789ab',
    ]);
    expect(parseRuleSpec('-N FL-0123456789ab')).toEqual(['-N', 'FL-0123456789ab']);
    expect(parseRuleSpec('-A X --comment ""')).toEqual(['-A', 'X', '--comment', '']);
  });
});

describe('tc helpers', () => {
  it('gives the exact netem argv to replay on a kernel with netem', () => {
    expect(netemDelayCommands('eth0', 'fa17:', { latencyMs: 100, jitterMs: 10 })).toEqual([
      ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'handle', 'fa17:', 'netem', 'delay', '100ms', '10ms'],
    ]);
    expect(netemDelayCommands('eth0', 'FA17', { latencyMs: 2.5, jitterMs: 0 })).toEqual([
      ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'handle', 'fa17:', 'netem', 'delay', '2500us'],
    ]);
    expect(netemRevertCommands('eth0', 'fa17:')).toEqual([['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', 'fa17:']]);
    expect(() => netemDelayCommands('eth0; rm', 'fa17:', { latencyMs: 1, jitterMs: 0 })).toThrow(/invalid network device/);
    // Replayed under qemu on a kernel with netem by test/e2e/netem-qemu.test.ts.
    expect(qdiscShowCommand('eth0')).toEqual(['tc', '-j', 'qdisc', 'show', 'dev', 'eth0']);
    expect(netemProbeCommand()).toEqual(['unshare', '-n', 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'handle', 'fa17:', 'netem', 'delay', '1ms']);
  });

  it('normalises and derives handles, never 0: or ffff:', () => {
    expect(normaliseHandle('FA17:')).toBe('fa17:');
    expect(normaliseHandle('0fa1')).toBe('fa1:');
    expect(normaliseHandle('fa17:0')).toBe('fa17:');
    expect(() => normaliseHandle('0:')).toThrow();
    expect(() => normaliseHandle('ffff:')).toThrow();
    for (const id of ['a', 'b', 'c', 'run-1:step-1']) expect(qdiscHandleForFault(id)).toMatch(/^[0-9a-f]{1,4}:$/);
  });

  it('tells a default root qdisc from a configured one', () => {
    expect(parseRootQdisc('[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{}}]')).toEqual({ kind: 'noqueue', handle: '0:' });
    expect(isDefaultRootQdisc({ kind: 'noqueue', handle: '0:' })).toBe(true);
    expect(isDefaultRootQdisc({ kind: 'mq', handle: '0:' })).toBe(true);
    expect(isDefaultRootQdisc(null)).toBe(true);
    expect(isDefaultRootQdisc({ kind: 'fq_codel', handle: '8001:' })).toBe(false);
    expect(isDefaultRootQdisc({ kind: 'tbf', handle: '0:' })).toBe(false);
    expect(isDefaultRootQdisc({ kind: 'netem', handle: 'fa17:' })).toBe(false);
  });
});

describe('latency proxy argv', () => {
  it('round-trips and is recognised by its marker', () => {
    const args = { faultId: 'run-1:step-1', map: [{ listenPort: 0, targetPort: 80 }, { listenPort: 15002, targetPort: 8080 }], latencyMs: 100, jitterMs: 10, deadline: 1_700_000_000_000, chain: 'FL-0123456789ab' };
    const argv = buildProxyArgv(args);
    expect(argv.slice(0, 3)).toEqual(['faultline-latency-proxy', '--fault', 'run-1:step-1']);
    expect(argv).toContain('0:80,15002:8080');
    expect(parseProxyArgv(argv)).toEqual(args);
    expect(parseProxyArgv(buildProxyArgv({ ...args, deadline: null, chain: undefined })).deadline).toBeNull();
    expect(proxyFaultId(['/usr/bin/node', '/x/latency-proxy-main.js', ...argv])).toBe('run-1:step-1');
    expect(proxyFaultId(['/usr/bin/node', '/x/other.js', ...argv])).toBeUndefined();
    expect(proxyFaultId(['grep', 'faultline-latency-proxy', '--fault', 'run-1:step-1'])).toBeUndefined();
  });

  it('rejects bad argv', () => {
    expect(() => parseProxyArgv(['nope'])).toThrow();
    expect(() => parseProxyArgv(['faultline-latency-proxy', '--fault', 'x', '--map', '0:0', '--latency-ms', '1'])).toThrow(/invalid port/);
    expect(() => parseProxyArgv(['faultline-latency-proxy', '--fault', 'x', '--map', '0:80', '--latency-ms', '1', '--evil', '1'])).toThrow(/unknown flag/);
  });
});
