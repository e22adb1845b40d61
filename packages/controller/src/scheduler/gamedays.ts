import type { Logger } from 'pino';
import {
  ErrorCode,
  FaultlineError,
  formatIssues,
  parseManifest,
  type ExtraIssue,
  type GameDay,
  type Manifest,
  type ScheduleKind,
} from '@faultline/shared';
import type { RunManager } from '../runs/run-manager.js';
import type { Store } from '../store/store.js';
import type { GameDayRunner } from './gameday-runner.js';
import type { FireTarget } from './scheduler.js';

/**
 * A check for {@link parseManifest}: every experiment a game day names must be known. `where` says
 * where names were looked up, for the message (e.g. `on this controller`).
 */
export function gameDayReferenceCheck(known: (name: string) => boolean, where: string, knownNames?: () => string[]): (manifest: Manifest) => ExtraIssue[] {
  return (manifest) => {
    if (manifest.kind !== 'GameDay') return [];
    const issues: ExtraIssue[] = [];
    manifest.spec.experiments.forEach((name, index) => {
      if (known(name)) return;
      const list = knownNames?.();
      const hint = list === undefined ? '' : ` (known: ${list.length > 0 ? list.join(', ') : 'none'})`;
      issues.push({ path: ['spec', 'experiments', index], message: `experiment "${name}" does not exist ${where}${hint}` });
    });
    return issues;
  };
}

/** Parses a game day for this controller: it must validate and name only stored experiments. Throws `invalid_manifest` with every issue. */
export function acceptGameDay(text: string, store: Store, expectedName?: string): GameDay {
  const result = parseManifest(text, {
    check: gameDayReferenceCheck(
      (name) => store.getExperiment(name) !== undefined,
      'on this controller',
      () => store.listExperiments().map((e) => e.name),
    ),
  });
  if (!result.ok) {
    throw new FaultlineError(ErrorCode.InvalidManifest, `the manifest is invalid (${result.issues.length} problem(s))`, { details: result.issues });
  }
  const manifest = result.manifest;
  if (manifest.kind !== 'GameDay') {
    throw new FaultlineError(ErrorCode.InvalidManifest, `expected kind GameDay, got ${manifest.kind}`, {
      details: [{ path: 'kind', message: `expected GameDay, got ${manifest.kind}: upload experiments with PUT /api/v1/experiments/{name}` }],
    });
  }
  if (expectedName !== undefined && manifest.metadata.name !== expectedName) {
    throw new FaultlineError(ErrorCode.InvalidManifest, `metadata.name "${manifest.metadata.name}" does not match the name in the URL "${expectedName}"`, {
      details: [{ path: 'metadata.name', message: `must be "${expectedName}" to match the URL` }],
    });
  }
  return manifest;
}

/** A game-day file read from the `--experiments` folder, to be loaded once the experiments are in. */
export interface PendingGameDay {
  path: string;
  text: string;
  format: 'yaml' | 'json';
}

/** Stores game days from the `--experiments` folder; one naming an experiment the store does not hold is reported and skipped. */
export function loadGameDays(files: readonly PendingGameDay[], store: Store, log: Logger): { loaded: string[]; skipped: string[] } {
  const loaded: string[] = [];
  const skipped: string[] = [];
  const names = () => store.listExperiments().map((e) => e.name);
  for (const file of files) {
    const result = parseManifest(file.text, {
      check: gameDayReferenceCheck((name) => store.getExperiment(name) !== undefined, 'on this controller', names),
    });
    if (!result.ok || result.manifest.kind !== 'GameDay') {
      skipped.push(file.path);
      const problems = result.ok ? [`${file.path}: not a GameDay`] : formatIssues(file.path, result.issues);
      log.error({ file: file.path, problems }, `skipped invalid game day ${file.path}`);
      continue;
    }
    store.putGameDay({ name: result.manifest.metadata.name, source: file.text, format: file.format, origin: 'file', manifest: result.manifest });
    loaded.push(result.manifest.metadata.name);
  }
  return { loaded, skipped };
}

/** The controller's {@link FireTarget}: experiments start through the run manager, game days through the game-day runner. */
export function controllerFireTarget(store: Store, runs: RunManager, gamedays: GameDayRunner): FireTarget {
  return {
    halted: () => runs.halted() !== undefined,
    busy: (kind: ScheduleKind, name: string) =>
      kind === 'gameday' ? gamedays.isRunning(name) : runs.activeIds().some((id) => runs.live(id)?.journal.experiment === name),
    start: (kind: ScheduleKind, name: string) => {
      if (kind === 'experiment') {
        const experiment = store.getExperiment(name);
        if (!experiment) throw new FaultlineError(ErrorCode.NotFound, `experiment "${name}" does not exist`);
        return runs.start(experiment.manifest, { dryRun: false, trigger: 'schedule' }).id;
      }
      const gameday = store.getGameDay(name);
      if (!gameday) throw new FaultlineError(ErrorCode.NotFound, `game day "${name}" does not exist`);
      return gamedays.start(gameday.manifest, { trigger: 'schedule' }).id;
    },
  };
}
