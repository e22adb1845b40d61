import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ErrorCode, FaultlineError, errorMessage, type Experiment, type RunJournal, type RunTrigger } from '@faultline/shared';
import type { Hub } from '../hub/hub.js';
import type { Store } from '../store/store.js';
import { JournalWriter } from './journal.js';
import { Run, type ProbeRunner } from './runner.js';

/** Options of {@link RunManager}. */
export interface RunManagerOptions {
  store: Store;
  hub: Hub;
  log: Logger;
  runProbe: ProbeRunner;
  allowExecProbes: boolean;
  /** Called with each new run's journal writer before the run starts (metrics listen to it). */
  onJournal?: (writer: JournalWriter) => void;
}

/** Starts, tracks and stops runs; routes agent events to the run that owns a fault. */
export class RunManager {
  private readonly active = new Map<string, Run>();
  private accepting = true;
  private readonly log: Logger;

  constructor(private readonly options: RunManagerOptions) {
    this.log = options.log.child({ component: 'runs' });
    options.hub.on('reverted', (agent, message) => {
      for (const run of this.active.values()) if (run.owns(message.faultId)) run.onAgentReverted(agent, message);
    });
    options.hub.on('agent-disconnected', (agent) => {
      for (const run of this.active.values()) run.onAgentLost(agent);
    });
    options.hub.on('agent-connected', (session) => {
      // A fault the agent still holds that no live run owns (e.g. the controller restarted) is reverted, never resumed.
      for (const fault of session.hello.activeFaults) {
        const owned = [...this.active.values()].some((run) => run.owns(fault.faultId));
        if (owned) continue;
        this.log.warn({ agent: session.name, faultId: fault.faultId, runId: fault.runId }, 'agent holds a fault of no live run; reverting it');
        session.request({ type: 'revert', faultId: fault.faultId }, 15_000).catch((error: unknown) => {
          this.log.error({ agent: session.name, faultId: fault.faultId, err: error }, 'could not revert orphaned fault');
        });
      }
    });
  }

  /** Marks runs left pending/running by a previous controller process as failed. */
  recoverInterrupted(): string[] {
    const ids: string[] = [];
    for (const journal of this.options.store.interruptedRuns()) {
      journal.status = 'failed';
      journal.reason = 'controller restarted while the run was in progress; agents revert its faults';
      journal.endedAt = Date.now();
      journal.timeline.push({ at: Date.now(), kind: 'status', message: `run failed: ${journal.reason}`, data: { status: 'failed' } });
      this.options.store.saveRun(journal);
      ids.push(journal.id);
    }
    if (ids.length > 0) this.log.warn({ runs: ids }, 'runs interrupted by a controller restart marked failed');
    return ids;
  }

  /** The halt in force, if any (kept in the store, so it survives restarts). */
  halted(): HaltState | undefined {
    const raw = this.options.store.getSetting(HALT_KEY);
    return raw === undefined ? undefined : (JSON.parse(raw) as HaltState);
  }

  /**
   * Halts: refuses new runs until {@link resume}, aborts every live run (reverting its faults), and tells every
   * connected agent to revert everything. Answers once agents confirmed or `agentTimeoutMs` passed.
   */
  async halt(reason: string, agentTimeoutMs = 5000): Promise<HaltResult> {
    const state: HaltState = { reason, at: Date.now() };
    this.options.store.setSetting(HALT_KEY, JSON.stringify(state));
    this.log.warn({ reason }, 'HALT: aborting every run and reverting every fault');
    const runs = [...this.active.values()];
    for (const run of runs) run.abort('aborted', `halted: ${reason}`);
    const agents = this.options.hub.connected();
    const answers = await Promise.allSettled(agents.map((agent) => this.options.hub.revertAll(agent.name, `halt: ${reason}`, agentTimeoutMs)));
    const confirmed: string[] = [];
    const unconfirmed: { agent: string; error: string }[] = [];
    answers.forEach((answer, index) => {
      const agent = agents[index]!.name;
      if (answer.status === 'rejected') unconfirmed.push({ agent, error: errorMessage(answer.reason) });
      else if (answer.value.failed.length > 0) {
        unconfirmed.push({ agent, error: answer.value.failed.map((f) => `${f.faultId}: ${f.error.message}`).join('; ') });
      } else confirmed.push(agent);
    });
    for (const view of this.options.hub.agents()) {
      // An agent asked above that dropped meanwhile is already listed, with the error it got.
      if (!view.connected && view.activeFaults > 0 && !unconfirmed.some((u) => u.agent === view.name)) {
        unconfirmed.push({ agent: view.name, error: 'not connected: it reverts its faults itself when its lease expires' });
      }
    }
    await Promise.race([Promise.allSettled(runs.map((run) => run.done)), delay(agentTimeoutMs)]);
    return { halted: true, reason, at: state.at, abortedRuns: runs.map((run) => run.id), confirmed, unconfirmed };
  }

  /** Lifts a halt; returns false when none was in force. */
  resume(): boolean {
    const was = this.halted() !== undefined;
    this.options.store.deleteSetting(HALT_KEY);
    if (was) this.log.warn('halt lifted: runs are accepted again');
    return was;
  }

  /** Starts a run and returns its journal at once; the run goes on in the background. */
  start(experiment: Experiment, options: { dryRun: boolean; trigger: RunTrigger }): RunJournal {
    if (!this.accepting) throw new FaultlineError(ErrorCode.Conflict, 'the controller is shutting down and accepts no new runs');
    const halt = this.halted();
    if (halt) {
      throw new FaultlineError(ErrorCode.Halted, `Faultline is halted (${halt.reason}); no run starts until POST /api/v1/resume (faultline resume)`);
    }
    const now = Date.now();
    const journal: RunJournal = {
      id: newRunId(now),
      experiment: experiment.metadata.name,
      status: 'pending',
      reason: null,
      dryRun: options.dryRun,
      trigger: options.trigger,
      createdAt: now,
      startedAt: null,
      endedAt: null,
      manifest: experiment,
      plan: null,
      steadyState: { before: [], during: [], after: [] },
      faults: [],
      timeline: [],
    };
    this.options.store.insertRun(journal);
    const writer = new JournalWriter(journal, (j) => {
      // A run still reverting when shutdown's deadline passed outlives the store: its revert must go on.
      if (!this.options.store.isOpen) return;
      this.options.store.saveRun(j);
    });
    this.options.onJournal?.(writer);
    const run = new Run(writer, {
      hub: this.options.hub,
      log: this.log,
      runProbe: this.options.runProbe,
      allowExecProbes: this.options.allowExecProbes,
    });
    this.active.set(journal.id, run);
    this.log.info({ runId: journal.id, experiment: journal.experiment, dryRun: options.dryRun }, 'run started');
    run.done.then(
      () => this.log.info({ runId: journal.id, status: journal.status, reason: journal.reason }, 'run ended'),
      (error: unknown) => this.log.error({ runId: journal.id, err: error }, 'run engine error'),
    ).finally(() => this.active.delete(journal.id));
    return journal;
  }

  /** Aborts a live run. */
  abort(id: string, reason: string): void {
    const run = this.active.get(id);
    if (!run) {
      if (this.options.store.getRun(id)) throw new FaultlineError(ErrorCode.Conflict, `run ${id} has already ended`);
      throw new FaultlineError(ErrorCode.NotFound, `run ${id} does not exist`);
    }
    run.abort('aborted', reason);
  }

  /** The journal writer of a live run (for event streams). */
  live(id: string): JournalWriter | undefined {
    return this.active.get(id)?.writer;
  }

  /** Ids of live runs. */
  activeIds(): string[] {
    return [...this.active.keys()];
  }

  /** Waits until a run ends (for tests and shutdown). */
  async wait(id: string): Promise<void> {
    await this.active.get(id)?.done;
  }

  /** Refuses new runs, aborts live ones (reverting their faults) and waits for them, up to `deadlineMs`. */
  async shutdown(reason: string, deadlineMs = 30_000): Promise<void> {
    this.accepting = false;
    const runs = [...this.active.values()];
    for (const run of runs) run.abort('aborted', reason);
    await Promise.race([Promise.allSettled(runs.map((run) => run.done)), delay(deadlineMs)]);
    const late = runs.filter((run) => this.active.has(run.id)).map((run) => run.id);
    if (late.length > 0) {
      this.log.error({ runs: late }, 'runs still reverting at the shutdown deadline; their agents revert by lease');
    }
  }
}

const HALT_KEY = 'halt';

/** A halt in force. */
export interface HaltState {
  reason: string;
  at: number;
}

/** The answer to a halt. */
export interface HaltResult extends HaltState {
  halted: true;
  abortedRuns: string[];
  confirmed: string[];
  unconfirmed: { agent: string; error: string }[];
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function newRunId(now: number): string {
  return `${now.toString(36)}${randomBytes(3).toString('hex')}`;
}
