/** `faultline validate`: the game-day check that needs other files (the experiments a game day names). */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { formatIssues, parseManifest } from '@faultline/shared';
import { gameDayReferenceCheck } from '../scheduler/gamedays.js';
import { resolvePath, type FileCheck } from './validate.js';
import type { CliIo } from './io.js';

/**
 * Checks that every experiment a valid game day names is known: among the experiments of the files
 * given to `validate` (`given`), or among the experiment manifests in the game day's own folder.
 * Returns the check unchanged when all are known, else a failed check with `file:line:column` lines.
 */
export async function checkGameDayReferences(check: Extract<FileCheck, { ok: true }>, given: ReadonlySet<string>, io: CliIo): Promise<FileCheck> {
  if (check.manifest.kind !== 'GameDay') return check;
  const folder = dirname(check.file);
  const known = new Set(given);
  const missing = () => check.manifest.kind === 'GameDay' && check.manifest.spec.experiments.some((name) => !known.has(name));
  if (missing()) for (const name of await experimentsIn(resolvePath(folder, io))) known.add(name);
  if (!missing()) return check;
  const result = parseManifest(check.text, {
    check: gameDayReferenceCheck(
      (name) => known.has(name),
      `among the files given or in ${folder === '.' ? 'this folder' : folder}/ (the controller checks its own experiments on upload)`,
      () => [...known].sort(),
    ),
  });
  return result.ok ? check : { ok: false, file: check.file, lines: formatIssues(check.file, result.issues) };
}

/** Names of the valid experiment manifests in a folder. */
async function experimentsIn(folder: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(folder)).filter((name) => /\.(ya?ml|json)$/.test(name));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    let text: string;
    try {
      text = await readFile(join(folder, name), 'utf8');
    } catch {
      continue;
    }
    const result = parseManifest(text);
    if (result.ok && result.manifest.kind === 'Experiment') out.push(result.manifest.metadata.name);
  }
  return out;
}
