import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { formatIssues, parseManifest, type Manifest } from '@faultline/shared';
import { checkGameDayReferences } from './gameday-check.js';
import { EXIT_FAILURE, EXIT_OK, parseVerbArgs, type CliIo, type VerbSpec } from './io.js';

export const validateSpec: VerbSpec = {
  name: 'validate',
  usage: 'FILE|DIR...',
  summary: 'check manifests offline; prints every problem as file:line:column: field: message',
  details:
    'A directory stands for its *.yaml, *.yml and *.json files. Exit 0 when every manifest is valid, 1 otherwise.\n' +
    'Controller policy (e.g. exec probes without --allow-exec-probes) is checked when the manifest is uploaded.\n' +
    'A game day may name only experiments among the files given or in its own folder.',
  options: {},
  remote: false,
  positionals: { min: 1, max: Infinity },
};

/** The outcome of reading and validating one manifest file. */
export type FileCheck =
  | { ok: true; file: string; text: string; manifest: Manifest }
  | { ok: false; file: string; lines: string[] };

/** `faultline validate FILES...` */
export async function validateCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseVerbArgs(validateSpec, argv, io);
  if (typeof args === 'number') return args;
  let failed = false;
  // Game days are reported last: the experiments they name may come in later files.
  const gamedays: Extract<FileCheck, { ok: true }>[] = [];
  const experiments = new Set<string>();
  for (const arg of args.positionals) {
    const files = await expand(arg, io);
    if (files.length === 0) failed = true;
    for (const file of files) {
      const check = await checkManifestFile(file, io);
      if (check.ok && check.manifest.kind === 'GameDay') {
        gamedays.push(check);
      } else if (check.ok) {
        experiments.add(check.manifest.metadata.name);
        io.stdout.write(`${check.file}: ok (${check.manifest.kind} ${check.manifest.metadata.name})\n`);
      } else {
        failed = true;
        for (const line of check.lines) io.stdout.write(`${line}\n`);
      }
    }
  }
  for (const gameday of gamedays) {
    const check = await checkGameDayReferences(gameday, experiments, io);
    if (check.ok) {
      io.stdout.write(`${check.file}: ok (${check.manifest.kind} ${check.manifest.metadata.name})\n`);
    } else {
      failed = true;
      for (const line of check.lines) io.stdout.write(`${line}\n`);
    }
  }
  return failed ? EXIT_FAILURE : EXIT_OK;
}

/**
 * Reads and validates one manifest. `file` is shown as given; it is read relative to `io.cwd`.
 * Problems come back as `file:line:column: field.path: message` lines.
 */
export async function checkManifestFile(file: string, io: CliIo): Promise<FileCheck> {
  let text: string;
  try {
    text = await readFile(resolvePath(file, io), 'utf8');
  } catch (error) {
    return { ok: false, file, lines: [`${file}: cannot read the file: ${readError(error)}`] };
  }
  const result = parseManifest(text);
  if (!result.ok) return { ok: false, file, lines: formatIssues(file, result.issues) };
  return { ok: true, file, text, manifest: result.manifest };
}

/** Resolves a user-given path against the CLI's working directory. */
export function resolvePath(file: string, io: CliIo): string {
  return isAbsolute(file) ? file : join(io.cwd, file);
}

async function expand(arg: string, io: CliIo): Promise<string[]> {
  const path = resolvePath(arg, io);
  try {
    if (!(await stat(path)).isDirectory()) return [arg];
  } catch {
    return [arg]; // reported by checkManifestFile
  }
  const names = (await readdir(path)).filter((name) => /\.(ya?ml|json)$/.test(name)).sort();
  if (names.length === 0) io.stdout.write(`${arg}: no *.yaml, *.yml or *.json files in this directory\n`);
  return names.map((name) => (isAbsolute(arg) ? join(arg, name) : relative(io.cwd, join(path, name)) || name));
}

function readError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return error instanceof Error ? error.message : String(error);
}
