import { parseArgs } from 'node:util';

/** A stream the CLI writes to. */
export interface CliWritable {
  write(chunk: string): unknown;
}

/** Everything a CLI verb may touch; `main.ts` passes the process's, tests pass fakes. */
export interface CliIo {
  stdout: CliWritable;
  stderr: CliWritable;
  env: Record<string, string | undefined>;
  cwd: string;
  /**
   * Registers a handler for Ctrl-C while a verb wants to react to it (e.g. `run` aborts the run);
   * returns a function that removes it. `main.ts` wires this to SIGINT. When absent, Ctrl-C keeps
   * its default effect.
   */
  onInterrupt?: (handler: () => void) => () => void;
}

/** A verb: parses its own arguments and returns the process exit code. */
export type Verb = (argv: string[], io: CliIo) => Promise<number>;

/** Exit codes. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** One option of a verb. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder shown in help, e.g. `NAME`. */
  value?: string;
  description: string;
}

/** A verb's arguments and help. */
export interface VerbSpec {
  name: string;
  /** After `faultline <name>`, e.g. `ID [--reason TEXT]`. */
  usage: string;
  summary: string;
  /** Extra paragraphs for `--help`. */
  details?: string;
  options: Record<string, OptionSpec>;
  /** Whether the verb talks to the controller (adds --server and --token). */
  remote: boolean;
  positionals: { min: number; max: number };
}

/** Options every remote verb takes. */
export const REMOTE_OPTIONS: Record<string, OptionSpec> = {
  server: {
    type: 'string',
    value: 'URL',
    description: 'controller URL [FAULTLINE_SERVER], default http://127.0.0.1:7070',
  },
  token: {
    type: 'string',
    value: 'TOKEN',
    description: 'API token [FAULTLINE_API_TOKEN], default the contents of ./.faultline/api-token',
  },
  ca: {
    type: 'string',
    value: 'FILE',
    description: "PEM CA certificate(s) to trust for an https controller [FAULTLINE_CA], default the system's",
  },
};

/** Parsed arguments. */
export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses `argv` for a verb. Prints help (and returns exit 0) for `--help`, or a usage error (exit 2);
 * otherwise returns the parsed arguments.
 */
export function parseVerbArgs(spec: VerbSpec, argv: string[], io: CliIo): ParsedArgs | number {
  const all = allOptions(spec);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, option] of Object.entries(all)) {
    options[name] = option.short === undefined ? { type: option.type } : { type: option.type, short: option.short };
  }
  let parsed: ParsedArgs;
  try {
    const result = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    parsed = { values: result.values, positionals: result.positionals };
  } catch (error) {
    return usageError(spec, io, error instanceof Error ? error.message.split('\n')[0] ?? error.message : String(error));
  }
  if (parsed.values.help === true) {
    io.stdout.write(helpText(spec));
    return EXIT_OK;
  }
  const count = parsed.positionals.length;
  if (count < spec.positionals.min) return usageError(spec, io, `missing arguments: expected ${spec.usage}`);
  if (count > spec.positionals.max) {
    return usageError(spec, io, `unexpected argument ${JSON.stringify(parsed.positionals[spec.positionals.max])}`);
  }
  return parsed;
}

/** Prints `error: <message>` and a pointer to the verb's help; returns exit 2. */
export function usageError(spec: VerbSpec, io: CliIo, message: string): number {
  io.stderr.write(`error: ${message}\nusage: faultline ${spec.name} ${spec.usage}\nrun "faultline ${spec.name} --help" for details\n`);
  return EXIT_USAGE;
}

/** The `--help` text of a verb. */
export function helpText(spec: VerbSpec): string {
  const lines = [`usage: faultline ${spec.name} ${spec.usage}`, '', spec.summary];
  if (spec.details) lines.push('', spec.details);
  lines.push('', 'options:');
  const entries = Object.entries(allOptions(spec)).map(([name, option]) => {
    const flag = `${option.short ? `-${option.short}, ` : '    '}--${name}${option.value ? ` ${option.value}` : ''}`;
    return [flag, option.description] as const;
  });
  const width = Math.max(...entries.map(([flag]) => flag.length));
  for (const [flag, description] of entries) lines.push(`  ${flag.padEnd(width)}  ${description}`);
  return `${lines.join('\n')}\n`;
}

function allOptions(spec: VerbSpec): Record<string, OptionSpec> {
  return {
    ...spec.options,
    ...(spec.remote ? REMOTE_OPTIONS : {}),
    help: { type: 'boolean', short: 'h', description: 'show this help' },
  };
}

/** A string option's value, if given. */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A boolean option's value. */
export function flagOption(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}
