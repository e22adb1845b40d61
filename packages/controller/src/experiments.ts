import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ErrorCode, FaultlineError, formatIssues, parseManifest, type Experiment, type ExtraIssue, type Manifest } from '@faultline/shared';
import { loadGameDays, type PendingGameDay } from './scheduler/gamedays.js';
import type { Store } from './store/store.js';

/** The controller's policy on top of the schema: what this controller refuses to run. */
export function policyChecks(allowExecProbes: boolean): (manifest: Manifest) => ExtraIssue[] {
  return (manifest) => {
    if (manifest.kind !== 'Experiment') return [];
    const issues: ExtraIssue[] = [];
    manifest.spec.steadyState.probes.forEach((probe, index) => {
      if (probe.type === 'exec' && !allowExecProbes) {
        issues.push({
          path: ['spec', 'steadyState', 'probes', index, 'type'],
          message: 'exec probes are refused: start the controller with --allow-exec-probes to permit them',
        });
      }
    });
    return issues;
  };
}

/** Parses an experiment for this controller; throws `invalid_manifest` with every issue in `details`. */
export function acceptExperiment(text: string, allowExecProbes: boolean, expectedName?: string): Experiment {
  const result = parseManifest(text, { check: policyChecks(allowExecProbes) });
  if (!result.ok) {
    throw new FaultlineError(ErrorCode.InvalidManifest, `the manifest is invalid (${result.issues.length} problem(s))`, {
      details: result.issues,
    });
  }
  const manifest = result.manifest;
  if (manifest.kind !== 'Experiment') {
    throw new FaultlineError(ErrorCode.InvalidManifest, `expected kind Experiment, got ${manifest.kind}`, {
      details: [{ path: 'kind', message: `expected Experiment, got ${manifest.kind}` }],
    });
  }
  if (expectedName !== undefined && manifest.metadata.name !== expectedName) {
    throw new FaultlineError(
      ErrorCode.InvalidManifest,
      `metadata.name "${manifest.metadata.name}" does not match the name in the URL "${expectedName}"`,
      { details: [{ path: 'metadata.name', message: `must be "${expectedName}" to match the URL` }] },
    );
  }
  return manifest;
}

/**
 * Loads `*.yaml`, `*.yml` and `*.json` experiments from a folder, then its game days (which may name
 * only experiments the store holds); invalid files are reported and skipped.
 */
export async function loadExperimentsDir(dir: string, store: Store, allowExecProbes: boolean, log: Logger): Promise<{ loaded: string[]; skipped: string[] }> {
  const loaded: string[] = [];
  const skipped: string[] = [];
  const files = (await readdir(dir)).filter((file) => /\.(ya?ml|json)$/.test(file)).sort();
  const gamedays: PendingGameDay[] = [];
  for (const file of files) {
    const path = join(dir, file);
    const text = await readFile(path, 'utf8');
    const result = parseManifest(text, { check: policyChecks(allowExecProbes) });
    if (!result.ok) {
      skipped.push(path);
      log.error({ file: path, problems: formatIssues(path, result.issues) }, `skipped invalid manifest ${path}`);
      continue;
    }
    if (result.manifest.kind === 'GameDay') {
      gamedays.push({ path, text, format: file.endsWith('.json') ? 'json' : 'yaml' });
      continue;
    }
    store.putExperiment({
      name: result.manifest.metadata.name,
      source: text,
      format: file.endsWith('.json') ? 'json' : 'yaml',
      origin: 'file',
      manifest: result.manifest,
    });
    loaded.push(result.manifest.metadata.name);
  }
  const days = loadGameDays(gamedays, store, log);
  loaded.push(...days.loaded);
  skipped.push(...days.skipped);
  log.info({ dir, loaded: loaded.length, skipped: skipped.length, gamedays: days.loaded.length }, 'experiments loaded');
  return { loaded, skipped };
}
