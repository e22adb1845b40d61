import { createHash } from 'node:crypto';
import { AgentError } from './errors.js';
import { nsRunChecked } from './netns.js';

/**
 * iptables inside a container's network namespace (entered with nsenter). Faultline owns exactly the
 * chains whose name matches {@link OWNED_CHAIN}; everything else (a user's rules, Docker's) is never
 * touched. Removal deletes only rules that jump to an owned chain, by their exact specification.
 */

/** Prefix of every chain Faultline creates. */
export const CHAIN_PREFIX = 'FL-';
/**
 * Names of the chains Faultline owns: `FL-` and 12 lowercase hex digits, optionally followed by a
 * direction suffix `-in` or `-out` (faults that need one chain per direction, e.g. network-blackhole).
 */
export const OWNED_CHAIN = /^FL-[0-9a-f]{12}(?:-(?:in|out))?$/;

/** The iptables tables Faultline uses: `nat` (latency redirect) and `filter` (loss, blackhole). */
export type IptablesTable = 'nat' | 'filter';

/** The direction suffix of a chain that handles one direction only. */
export type ChainDirection = 'in' | 'out';

/** A TCP port redirected to a local listener (the latency proxy). */
export interface RedirectRule {
  port: number;
  toPort: number;
}

const TABLE = 'nat';
const IPTABLES_TIMEOUT_MS = 10_000;

/**
 * The chain name owned by a fault: `FL-` plus the first 12 hex digits of sha256(faultId), plus
 * `-in`/`-out` when a direction is given (at most 20 characters; iptables allows 28).
 */
export function chainNameForFault(faultId: string, direction?: ChainDirection): string {
  const base = CHAIN_PREFIX + createHash('sha256').update(faultId).digest('hex').slice(0, 12);
  return direction === undefined ? base : `${base}-${direction}`;
}

/** True when Faultline owns a chain of that name. */
export function isOwnedChain(name: string): boolean {
  return OWNED_CHAIN.test(name);
}

/** The rule comment that marks a fault's jump rule: `faultline:<faultId>`, reduced to safe characters. */
export function faultComment(faultId: string): string {
  return `faultline:${faultId.replace(/[^A-Za-z0-9_.:@-]/g, '_')}`.slice(0, 255);
}

function assertOwnedChain(chain: string): void {
  if (!isOwnedChain(chain)) {
    throw new AgentError('invalid_request', `refusing to touch iptables chain ${JSON.stringify(chain)}: it is not a Faultline chain (FL-<12 hex>)`);
  }
}

function assertPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AgentError('invalid_request', `invalid ${what} ${String(port)}: a TCP port is 1-65535`);
  }
}

/** The iptables argv lists (each beginning with `iptables`) that create a redirect chain and hook it. */
export function redirectChainCommands(chain: string, rules: readonly RedirectRule[], comment: string): string[][] {
  assertOwnedChain(chain);
  const commands: string[][] = [['iptables', '-w', '5', '-t', TABLE, '-N', chain]];
  for (const rule of rules) {
    assertPort(rule.port, 'port');
    assertPort(rule.toPort, 'redirect port');
    commands.push(['iptables', '-w', '5', '-t', TABLE, '-A', chain, '-p', 'tcp', '--dport', String(rule.port), '-j', 'REDIRECT', '--to-ports', String(rule.toPort)]);
  }
  commands.push(['iptables', '-w', '5', '-t', TABLE, '-I', 'PREROUTING', '-p', 'tcp', '-m', 'comment', '--comment', comment, '-j', chain]);
  return commands;
}

async function iptablesChecked(pid: number, args: readonly string[]) {
  return nsRunChecked(pid, 'iptables', ['-w', '5', ...args], { timeoutMs: IPTABLES_TIMEOUT_MS });
}

/**
 * Creates `chain` in the nat table of `pid`'s namespace with one REDIRECT rule per entry and a jump
 * to it at the top of PREROUTING (marked with `comment`). Fails when the chain already exists. On a
 * partial failure it removes what it created before rethrowing.
 */
export async function createRedirectChain(pid: number, chain: string, rules: readonly RedirectRule[], comment: string): Promise<void> {
  if (rules.length === 0) throw new AgentError('invalid_request', 'no ports to redirect');
  const commands = redirectChainCommands(chain, rules, comment);
  const existing = await listChains(pid);
  if (existing.includes(chain)) {
    throw new AgentError('conflict', `iptables chain ${chain} already exists in the namespace of pid ${pid}: a fault with the same id is active`);
  }
  try {
    for (const argv of commands) await nsRunChecked(pid, argv[0]!, argv.slice(1), { timeoutMs: IPTABLES_TIMEOUT_MS });
  } catch (error) {
    await removeChain(pid, chain).catch(() => undefined);
    throw error;
  }
}

/**
 * Splits one line of `iptables -S` output into arguments. iptables quotes an argument containing
 * spaces with double quotes and escapes `"` and `\` inside it.
 */
export function parseRuleSpec(line: string): string[] {
  const args: string[] = [];
  let current = '';
  let inArg = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '\\' && i + 1 < line.length) {
        current += line[++i];
      } else if (ch === '"') {
        quoted = false;
      } else {
        current += ch;
      }
    } else if (ch === '"') {
      quoted = true;
      inArg = true;
    } else if (ch === ' ' || ch === '\t') {
      if (inArg) args.push(current);
      current = '';
      inArg = false;
    } else {
      current += ch;
      inArg = true;
    }
  }
  if (inArg) args.push(current);
  return args;
}

interface ParsedTable {
  chains: string[];
  /** `-A` rules, as argument lists without the leading `-A`. */
  rules: string[][];
}

function parseTable(text: string): ParsedTable {
  const chains: string[] = [];
  const rules: string[][] = [];
  for (const line of text.split('\n')) {
    const args = parseRuleSpec(line.trim());
    if (args[0] === '-N' && args[1]) chains.push(args[1]);
    else if (args[0] === '-A' && args.length > 1) rules.push(args.slice(1));
  }
  return { chains, rules };
}

function jumpTarget(ruleArgs: readonly string[]): string | undefined {
  for (let i = 0; i < ruleArgs.length - 1; i++) {
    const arg = ruleArgs[i];
    if (arg === '-j' || arg === '--jump' || arg === '-g' || arg === '--goto') return ruleArgs[i + 1];
  }
  return undefined;
}

async function readTable(pid: number, table: IptablesTable = TABLE): Promise<ParsedTable> {
  const result = await iptablesChecked(pid, ['-t', table, '-S']);
  return parseTable(result.stdout);
}

async function listChains(pid: number, table: IptablesTable = TABLE): Promise<string[]> {
  return (await readTable(pid, table)).chains;
}

/** The Faultline chains (FL-...) present in one table (default `nat`) of `pid`'s namespace. */
export async function listOwnedChains(pid: number, table: IptablesTable = TABLE): Promise<string[]> {
  return (await listChains(pid, table)).filter(isOwnedChain);
}

/**
 * True when `iptables-save` output names `chain` as a whole word (a chain line `:NAME`, a rule of the
 * chain, or a jump to it). `FL-<hex>` is not found inside `FL-<hex>-in`.
 */
export function savedMentionsChain(saved: string, chain: string): boolean {
  const escaped = chain.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?:^|[\\s:])${escaped}(?=\\s|$)`, 'm').test(saved);
}

/** The output of `iptables-save` in `pid`'s namespace. */
export async function iptablesSave(pid: number): Promise<string> {
  return (await nsRunChecked(pid, 'iptables-save', [], { timeoutMs: IPTABLES_TIMEOUT_MS })).stdout;
}

/**
 * Removes `chain` from one table (default `nat`) of `pid`'s namespace: deletes every rule of that
 * table that jumps to it (by its exact specification), flushes it and deletes it. Missing chain =
 * success. Afterwards checks with `iptables-save` (all tables) that the name appears nowhere, and
 * throws `revert_failed` if it still does.
 */
export async function removeChain(pid: number, chain: string, table: IptablesTable = TABLE): Promise<void> {
  assertOwnedChain(chain);
  let lastError: unknown;
  // Something else (another revert, the proxy's own clean-up) may change the table between our list
  // and our delete; re-read and retry rather than fail on a rule that is already gone.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const parsed = await readTable(pid, table);
      for (const rule of parsed.rules) {
        if (jumpTarget(rule) === chain) await iptablesChecked(pid, ['-t', table, '-D', ...rule]);
      }
      if (parsed.chains.includes(chain)) {
        await iptablesChecked(pid, ['-t', table, '-F', chain]);
        await iptablesChecked(pid, ['-t', table, '-X', chain]);
      }
      lastError = undefined;
      break;
    } catch (error) {
      lastError = error;
    }
  }
  const saved = await iptablesSave(pid);
  if (savedMentionsChain(saved, chain)) {
    throw new AgentError('revert_failed', `iptables chain ${chain} is still present in the namespace of pid ${pid} after removal`, {
      cause: lastError,
      details: { chain, pid, lines: saved.split('\n').filter((line) => line.includes(chain)) },
    });
  }
}
