import { AgentError, messageOf } from './errors.js';
import { chainNameForFault, isOwnedChain, listOwnedChains, removeChain } from './iptables.js';
import { assertContainerNetns, nsRunChecked } from './netns.js';

/**
 * Packet filtering for network-loss and network-blackhole: agent-owned chains in the `filter` table
 * of a container's network namespace (entered with nsenter), hooked into `INPUT` (what arrives at
 * the container) or `OUTPUT` (what it sends). Each hook is one jump rule inserted at the top of the
 * built-in chain, marked `-m comment --comment faultline:<faultId>` and never matching the loopback
 * interface: a fault cuts the container off the network, not from itself. Every argument that
 * reaches a command line is a validated number, CIDR or derived name; there is no shell.
 */

const TABLE = 'filter';
const IPTABLES_TIMEOUT_MS = 10_000;

/** A built-in chain of the filter table that a fault hooks into. */
export type FilterHook = 'INPUT' | 'OUTPUT';

/** One agent-owned chain and where it is hooked in. */
export interface FilterChainSpec {
  /** An owned name, `FL-<12 hex>` or `FL-<12 hex>-in|-out`. */
  chain: string;
  hook: FilterHook;
  /** The chain's rules, each the arguments after `-A <chain>`. */
  rules: string[][];
}

/**
 * The match of a TCP port: packets of connections whose original destination port is `port`
 * (conntrack's original tuple), in both directions. So it covers connections to the container's own
 * service on that port and the container's connections to that port elsewhere, and it still matches
 * when the port was redirected (the latency proxy's `REDIRECT` changes the destination port that
 * `--dport` would see in `INPUT`, not the original tuple).
 */
export function portMatch(port: number): string[] {
  assertPort(port);
  return ['-p', 'tcp', '-m', 'conntrack', '--ctorigdstport', String(port)];
}

/** Which packets a blackhole drops; absent lists mean "all". */
export interface BlackholeMatch {
  /** TCP ports: packets of connections to one of them (see {@link portMatch}). */
  ports?: readonly number[];
  /** IPv4 addresses or networks: the peer (source of what arrives, destination of what leaves). */
  cidrs?: readonly string[];
}

function assertPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AgentError('invalid_request', `invalid port ${String(port)}: a TCP port is 1-65535`);
  }
}

/** Checks and normalises an IPv4 address or network (`10.0.0.0/8`, `192.168.1.7`). */
export function normaliseCidr(cidr: string): string {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(cidr.trim());
  const octets = match?.slice(1, 5).map(Number);
  const prefix = match?.[5] === undefined ? 32 : Number(match[5]);
  if (!match || !octets || octets.some((o) => o > 255) || prefix > 32) {
    throw new AgentError('invalid_request', `invalid CIDR ${JSON.stringify(cidr)}: write an IPv4 address or network such as 10.0.0.0/8`);
  }
  return `${octets.join('.')}/${prefix}`;
}

/** The `--probability` argument for a loss percentage (0 < percent <= 100). */
export function lossProbability(percent: number): string {
  if (!Number.isFinite(percent) || percent <= 0 || percent > 100) {
    throw new AgentError('invalid_request', `invalid loss percent ${String(percent)}: give a number greater than 0 and at most 100`);
  }
  // iptables keeps 31 bits of the probability; six decimals are more than enough.
  return String(Number((percent / 100).toFixed(6)));
}

/**
 * The chain of a network-loss fault: in `INPUT`, drop each arriving packet with probability
 * `percent / 100` (only packets of TCP connections to `ports`, when given: {@link portMatch}). The
 * chain is `FL-<hex>`.
 */
export function lossChainSpec(faultId: string, percent: number, ports?: readonly number[]): FilterChainSpec {
  const probability = lossProbability(percent);
  const drop = probability === '1' ? ['-j', 'DROP'] : ['-m', 'statistic', '--mode', 'random', '--probability', probability, '-j', 'DROP'];
  const rules: string[][] = [];
  if (ports === undefined) rules.push([...drop]);
  else {
    if (ports.length === 0) throw new AgentError('invalid_request', 'ports, when given, must not be empty');
    for (const port of ports) rules.push([...portMatch(port), ...drop]);
  }
  return { chain: chainNameForFault(faultId), hook: 'INPUT', rules };
}

/**
 * The two chains of a network-blackhole fault: `FL-<hex>-in` in `INPUT` and `FL-<hex>-out` in
 * `OUTPUT`, both dropping what matches. Ports match packets of TCP connections to that port, either
 * way ({@link portMatch}); CIDRs match the peer (source of what arrives, destination of what
 * leaves). Both given: a packet must match both.
 */
export function blackholeChainSpecs(faultId: string, match: BlackholeMatch): [FilterChainSpec, FilterChainSpec] {
  const ports = match.ports;
  const cidrs = match.cidrs?.map(normaliseCidr);
  if (ports !== undefined) {
    if (ports.length === 0) throw new AgentError('invalid_request', 'ports, when given, must not be empty');
    ports.forEach(assertPort);
  }
  if (cidrs !== undefined && cidrs.length === 0) throw new AgentError('invalid_request', 'cidrs, when given, must not be empty');
  const build = (peerFlag: '-s' | '-d'): string[][] => {
    const peers: string[][] = cidrs === undefined ? [[]] : cidrs.map((cidr) => [peerFlag, cidr]);
    const portMatches: string[][] = ports === undefined ? [[]] : ports.map(portMatch);
    return peers.flatMap((peer) => portMatches.map((portMatch) => [...peer, ...portMatch, '-j', 'DROP']));
  };
  return [
    { chain: chainNameForFault(faultId, 'in'), hook: 'INPUT', rules: build('-s') },
    { chain: chainNameForFault(faultId, 'out'), hook: 'OUTPUT', rules: build('-d') },
  ];
}

function assertSpec(spec: FilterChainSpec): void {
  if (!isOwnedChain(spec.chain)) {
    throw new AgentError('invalid_request', `refusing to create iptables chain ${JSON.stringify(spec.chain)}: it is not a Faultline chain`);
  }
  if (spec.hook !== 'INPUT' && spec.hook !== 'OUTPUT') throw new AgentError('invalid_request', `invalid hook ${JSON.stringify(spec.hook)}`);
  if (spec.rules.length === 0) throw new AgentError('invalid_request', `chain ${spec.chain} would have no rules`);
}

/** The jump rule (arguments after `-I <hook>` / `-D <hook>`) that sends a hook's packets to the chain. */
export function hookRule(spec: FilterChainSpec, comment: string): string[] {
  const notLoopback = spec.hook === 'INPUT' ? ['!', '-i', 'lo'] : ['!', '-o', 'lo'];
  return [...notLoopback, '-m', 'comment', '--comment', comment, '-j', spec.chain];
}

/**
 * The iptables argv lists (each beginning with `iptables`) that create the chains, fill them, and
 * hook them in last, so that nothing matches until every chain is complete.
 */
export function filterChainCommands(specs: readonly FilterChainSpec[], comment: string): string[][] {
  specs.forEach(assertSpec);
  const base = ['iptables', '-w', '5', '-t', TABLE];
  const commands: string[][] = [];
  for (const spec of specs) commands.push([...base, '-N', spec.chain]);
  for (const spec of specs) for (const rule of spec.rules) commands.push([...base, '-A', spec.chain, ...rule]);
  for (const spec of specs) commands.push([...base, '-I', spec.hook, '1', ...hookRule(spec, comment)]);
  return commands;
}


/**
 * Creates the chains in the filter table of `pid`'s namespace and hooks them in (see
 * {@link filterChainCommands}). Fails with `conflict` when one of the chains exists already. On a
 * partial failure removes every chain of `specs` before rethrowing.
 */
export async function createFilterChains(pid: number, specs: readonly FilterChainSpec[], comment: string): Promise<void> {
  const commands = filterChainCommands(specs, comment);
  await assertContainerNetns(pid);
  const existing = await listOwnedChains(pid, TABLE);
  const taken = specs.filter((spec) => existing.includes(spec.chain)).map((spec) => spec.chain);
  if (taken.length > 0) {
    throw new AgentError('conflict', `iptables chain ${taken.join(', ')} already exists in the namespace of pid ${pid}: a fault with the same id is active`);
  }
  try {
    for (const argv of commands) await nsRunChecked(pid, argv[0]!, argv.slice(1), { timeoutMs: IPTABLES_TIMEOUT_MS });
  } catch (error) {
    await removeFilterChains(pid, specs.map((spec) => spec.chain)).catch(() => undefined);
    throw error;
  }
}

/**
 * Removes the chains (and every jump to them) from the filter table of `pid`'s namespace, each
 * verified gone with `iptables-save`. Every chain is attempted even when one fails; then the first
 * failure is thrown with all messages. Missing chains are fine.
 */
export async function removeFilterChains(pid: number, chains: readonly string[]): Promise<void> {
  const errors: unknown[] = [];
  for (const chain of chains) {
    try {
      await removeChain(pid, chain, TABLE);
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    throw new AgentError('revert_failed', errors.map(messageOf).join('; '), { cause: errors[0], details: { errors: errors.map(messageOf) } });
  }
}
