import { errorMessage } from '@faultline/shared';
import { abortCommand, abortSpec } from './abort.js';
import { agentsCommand, agentsSpec } from './agents.js';
import { haltCommand, haltSpec, resumeCommand, resumeSpec } from './halt.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type Verb } from './io.js';
import { reportCommand, reportSpec } from './report.js';
import { runCommand, runSpec } from './run.js';
import { runsCommand, runsSpec } from './runs.js';
import { scheduleCommand, scheduleSpec } from './schedule.js';
import { validateCommand, validateSpec } from './validate.js';

export type { CliIo, CliWritable, Verb } from './io.js';

/** A top-level verb of `faultline`. */
export interface CliCommand {
  /** One line for `faultline --help`. */
  summary: string;
  run: Verb;
}

/** The client verbs, in the order `--help` lists them. */
export const CLIENT_COMMANDS: Readonly<Record<string, CliCommand>> = {
  validate: { summary: validateSpec.summary, run: validateCommand },
  run: { summary: runSpec.summary, run: runCommand },
  runs: { summary: runsSpec.summary, run: runsCommand },
  abort: { summary: abortSpec.summary, run: abortCommand },
  agents: { summary: agentsSpec.summary, run: agentsCommand },
  halt: { summary: haltSpec.summary, run: haltCommand },
  resume: { summary: resumeSpec.summary, run: resumeCommand },
  report: { summary: reportSpec.summary, run: reportCommand },
  schedule: { summary: scheduleSpec.summary, run: scheduleCommand },
};

const CONTROLLER_PLACEHOLDER: CliCommand = {
  summary: 'run the controller: REST API, agent hub, scheduler (see "faultline controller --help")',
  run: async (_argv, io) => {
    io.stderr.write('error: the controller is not available from this entry point\n');
    return EXIT_USAGE;
  },
};

/** Options that may come before the verb and are passed on to it. */
const GLOBAL_VALUE_OPTIONS = new Set(['--server', '--token', '--ca']);

/**
 * Runs `faultline <verb> [args]` and returns the exit code: 0 success, 1 failure, 2 usage error,
 * 130 interrupted. `extra` adds or replaces verbs (a bare {@link Verb} keeps the built-in summary);
 * `main.ts` passes `{controller: ...}`.
 */
export async function runCli(argv: string[], io: CliIo, extra: Record<string, CliCommand | Verb> = {}): Promise<number> {
  const commands: Record<string, CliCommand> = { controller: CONTROLLER_PLACEHOLDER, ...CLIENT_COMMANDS };
  for (const [name, entry] of Object.entries(extra)) {
    // A bare verb keeps the summary of the entry it replaces.
    commands[name] = typeof entry === 'function' ? { summary: commands[name]?.summary ?? '', run: entry } : entry;
  }
  const { verb, rest } = splitVerb(argv);
  if (verb === undefined) {
    if (rest.length > 0) {
      io.stderr.write(`error: missing verb before ${rest.join(' ')}\n${usageText(commands)}`);
      return EXIT_USAGE;
    }
    io.stderr.write(usageText(commands));
    return EXIT_USAGE;
  }
  if (verb === '--help' || verb === '-h' || verb === 'help') {
    const topic = rest[0];
    if (topic !== undefined && commands[topic]) return dispatch(commands[topic], [`--help`], io);
    if (topic !== undefined) {
      io.stderr.write(`error: unknown verb "${topic}"\n${usageText(commands)}`);
      return EXIT_USAGE;
    }
    io.stdout.write(usageText(commands));
    return EXIT_OK;
  }
  const command = commands[verb];
  if (!command) {
    io.stderr.write(`error: unknown verb "${verb}"\n${usageText(commands)}`);
    return EXIT_USAGE;
  }
  return dispatch(command, rest, io);
}

/** The text of `faultline --help`. */
export function usageText(commands: Record<string, CliCommand> = { controller: CONTROLLER_PLACEHOLDER, ...CLIENT_COMMANDS }): string {
  const names = Object.keys(commands);
  const width = Math.max(...names.map((name) => name.length));
  const lines = [
    'usage: faultline <verb> [options]',
    '',
    'Chaos engineering for fleets of Docker hosts.',
    '',
    'verbs:',
    ...names.map((name) => `  ${name.padEnd(width)}  ${commands[name]?.summary ?? ''}`),
    '',
    'Client verbs take --server URL [FAULTLINE_SERVER, default http://127.0.0.1:7070] and --token TOKEN',
    '[FAULTLINE_API_TOKEN, default ./.faultline/api-token].',
    'Run "faultline <verb> --help" for the options of a verb.',
  ];
  return `${lines.join('\n')}\n`;
}

async function dispatch(command: CliCommand, argv: string[], io: CliIo): Promise<number> {
  try {
    return await command.run(argv, io);
  } catch (error) {
    io.stderr.write(`error: ${errorMessage(error)}\n`);
    return EXIT_FAILURE;
  }
}

/** Finds the verb, moving `--server X` / `--token X` given before it to after it. */
function splitVerb(argv: string[]): { verb: string | undefined; rest: string[] } {
  const hoisted: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] ?? '';
    const name = arg.split('=')[0] ?? '';
    if (!GLOBAL_VALUE_OPTIONS.has(name)) break;
    if (arg.includes('=')) {
      hoisted.push(arg);
      i += 1;
    } else {
      hoisted.push(arg, ...(argv[i + 1] === undefined ? [] : [argv[i + 1] as string]));
      i += 2;
    }
  }
  const verb = argv[i];
  return { verb, rest: [...argv.slice(i + 1), ...hoisted] };
}
