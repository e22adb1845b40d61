/** Helpers of the scheduler tests: a store in a temporary directory, scheduled experiments, a recording fire target. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseManifest, type ScheduleKind } from '@faultline/shared';
import { Scheduler, type FireTarget, type SchedulerOptions } from '../src/scheduler/scheduler.js';
import { Store } from '../src/store/store.js';

export const silentLog = pino({ level: 'silent' });

/** A store in a fresh temporary directory; dispose removes it. */
export function tempStore(): { store: Store; dir: string; reopen(): Store } & Disposable {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-scheduler-'));
  const handle = {
    store: Store.open(dir),
    dir,
    reopen() {
      handle.store.close();
      handle.store = Store.open(dir);
      return handle.store;
    },
    [Symbol.dispose]() {
      handle.store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** Stores an experiment whose spec carries `specExtra` (YAML lines under spec, e.g. a schedule). */
export function putScheduledExperiment(store: Store, name: string, specExtra: string): void {
  const source = `apiVersion: faultline/v1
kind: Experiment
metadata: {name: ${name}}
spec:
  targets: {web: {containers: {labels: {app: web}}}}
  method: [{pause: 1s}]
${specExtra
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => `  ${line}`)
  .join('\n')}
`;
  const parsed = parseManifest(source);
  if (!parsed.ok || parsed.manifest.kind !== 'Experiment') throw new Error(`bad fixture: ${JSON.stringify(parsed)}`);
  store.putExperiment({ name, source, format: 'yaml', origin: 'api', manifest: parsed.manifest });
}

/** One call of {@link RecordingTarget.start}. */
export interface Started {
  kind: ScheduleKind;
  name: string;
  /** The fire time. */
  at: number;
  /** Date.now() when the run was started. */
  now: number;
  runId: string;
}

/** A fire target that records what it starts; `halt` and `busy` are switches. */
export class RecordingTarget implements FireTarget {
  readonly started: Started[] = [];
  halt = false;
  readonly busyNames = new Set<string>();
  private n = 0;

  halted(): boolean {
    return this.halt;
  }

  busy(_kind: ScheduleKind, name: string): boolean {
    return this.busyNames.has(name);
  }

  start(kind: ScheduleKind, name: string, at: number): string {
    const runId = `run-${++this.n}`;
    this.started.push({ kind, name, at, now: Date.now(), runId });
    return runId;
  }

  of(name: string): Started[] {
    return this.started.filter((s) => s.name === name);
  }
}

/** A scheduler over `store` and `target` with a silent logger. */
export function makeScheduler(store: Store, target: FireTarget, options: Partial<SchedulerOptions> = {}): Scheduler {
  return new Scheduler({ store, target, log: silentLog, ...options });
}
