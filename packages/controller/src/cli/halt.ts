import { remoteVerb } from './client.js';
import { EXIT_FAILURE, EXIT_OK, stringOption, type CliIo, type VerbSpec } from './io.js';

export const haltSpec: VerbSpec = {
  name: 'halt',
  usage: '[--reason TEXT]',
  summary: 'emergency stop: abort every run, revert every fault on every agent, refuse new runs',
  details: 'Waits until the agents confirm. Exit 1 if some agents did not confirm. Lift with "faultline resume".',
  options: { reason: { type: 'string', value: 'TEXT', description: 'why, recorded with the halt' } },
  remote: true,
  positionals: { min: 0, max: 0 },
};

export const resumeSpec: VerbSpec = {
  name: 'resume',
  usage: '',
  summary: 'lift a halt: runs (manual and scheduled) are accepted again',
  options: {},
  remote: true,
  positionals: { min: 0, max: 0 },
};

/** Halting can take as long as the slowest agent's revert. */
const HALT_TIMEOUT_MS = 120_000;

/** `faultline halt` */
export async function haltCommand(argv: string[], io: CliIo): Promise<number> {
  return remoteVerb(haltSpec, argv, io, async (client, args) => {
    const reason = stringOption(args, 'reason');
    const answer = await client.post<unknown>('/api/v1/halt', reason === undefined ? {} : { reason }, { timeoutMs: HALT_TIMEOUT_MS });
    const report = describeHalt(answer);
    io.stdout.write(`halted${reason ? ` (${reason})` : ''}: new runs are refused until "faultline resume"\n`);
    for (const line of report.lines) io.stdout.write(`${line}\n`);
    if (report.unconfirmed.length > 0) {
      io.stderr.write(
        `error: ${report.unconfirmed.length} agent(s) did not confirm that their faults are reverted: ${report.unconfirmed.join(', ')}\n` +
          'check those hosts; each agent also reverts on its own when its lease times out\n',
      );
      return EXIT_FAILURE;
    }
    return EXIT_OK;
  });
}

/** `faultline resume` */
export async function resumeCommand(argv: string[], io: CliIo): Promise<number> {
  return remoteVerb(resumeSpec, argv, io, async (client) => {
    await client.post('/api/v1/resume', {});
    io.stdout.write('resumed: runs are accepted again\n');
    return EXIT_OK;
  });
}

/**
 * Reads the halt answer. Understands `abortedRuns: string[]`, `confirmed: string[]` and
 * `unconfirmed: (string | {agent|name, error?})[]`, at the top level or under `agents`.
 */
function describeHalt(answer: unknown): { lines: string[]; unconfirmed: string[] } {
  const top = isRecord(answer) ? answer : {};
  const agents = isRecord(top.agents) ? top.agents : top;
  const lines: string[] = [];
  const aborted = stringList(top.abortedRuns);
  if (aborted.length > 0) lines.push(`aborted runs: ${aborted.join(', ')}`);
  const confirmed = stringList(agents.confirmed);
  if (confirmed.length > 0) lines.push(`agents confirmed: ${confirmed.join(', ')}`);
  const unconfirmed = stringList(agents.unconfirmed ?? agents.notConfirmed ?? top.unconfirmed);
  return { lines, unconfirmed };
}

function stringList(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map((item) => {
    if (typeof item === 'string') return item;
    if (isRecord(item)) {
      const name = typeof item.agent === 'string' ? item.agent : typeof item.name === 'string' ? item.name : JSON.stringify(item);
      return typeof item.error === 'string' ? `${name} (${item.error})` : name;
    }
    return String(item);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
