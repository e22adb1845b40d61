import type { Logger } from 'pino';
import {
  ErrorCode,
  FaultlineError,
  errorMessage,
  formatDuration,
  isNetworkProbe,
  isSustained,
  parseDuration,
  type AgentMessage,
  type AgentSelector,
  type Experiment,
  type FaultRecord,
  type PlannedTarget,
  type Probe,
  type ProbePhase,
  type ProbeResult,
  type RunStatus,
} from '@faultline/shared';
import type { Hub } from '../hub/hub.js';
import { applySelect, type Candidate } from './select.js';
import type { JournalWriter } from './journal.js';

/** Runs one probe once. */
export type ProbeRunner = (probe: Probe, phase: ProbePhase, options: { allowExec: boolean; signal?: AbortSignal }) => Promise<ProbeResult>;

/** What a run needs from the controller. */
export interface RunDeps {
  hub: Hub;
  log: Logger;
  runProbe: ProbeRunner;
  allowExecProbes: boolean;
}

type FinalStatus = Exclude<RunStatus, 'pending' | 'running'>;
type RevertedMessage = Extract<AgentMessage, { type: 'reverted' }>;

/** Executes one experiment run: plan, steady state before, method with during probes, revert, after. */
export class Run {
  /** Why the method stopped early, first cause wins. */
  private outcome: { status: FinalStatus; reason: string } | undefined;
  private readonly stop = new AbortController();
  /** Faults applied and not yet reverted, by fault id. */
  private readonly active = new Map<string, FaultRecord>();
  private readonly backgroundTimers = new Set<NodeJS.Timeout>();
  private readonly log: Logger;
  private inMethod = false;
  readonly done: Promise<void>;

  constructor(
    readonly writer: JournalWriter,
    private readonly deps: RunDeps,
  ) {
    this.log = deps.log.child({ runId: writer.journal.id, experiment: writer.journal.experiment });
    this.done = Promise.resolve().then(() => this.execute());
  }

  get id(): string {
    return this.writer.journal.id;
  }

  private get experiment(): Experiment {
    return this.writer.journal.manifest;
  }

  /** Stops the run; its faults are reverted. The first reason given wins. */
  abort(status: FinalStatus, reason: string): void {
    if (this.outcome || this.writer.journal.endedAt !== null) return;
    this.outcome = { status, reason };
    this.writer.event('info', `stopping: ${reason}`);
    this.stop.abort();
  }

  /** Why the run stopped early, if it did (a method, so narrowing does not assume it unchanged). */
  private stoppedBy(): { status: FinalStatus; reason: string } | undefined {
    return this.outcome;
  }

  /** True when this run holds the fault. */
  owns(faultId: string): boolean {
    return this.writer.journal.faults.some((fault) => fault.faultId === faultId);
  }

  /** An agent reverted one of this run's faults on its own (deadline, lease). */
  onAgentReverted(agent: string, message: RevertedMessage): void {
    const record = this.writer.journal.faults.find((fault) => fault.faultId === message.faultId);
    if (!record || record.revertedAt !== null) return;
    if (message.error) {
      record.revertError = message.error.message;
      this.writer.event('error', `fault ${record.type} on ${agent}/${record.containerName}: revert failed: ${message.error.message}`);
      return;
    }
    record.revertedAt = message.revertedAt;
    record.revertCause = message.cause;
    this.active.delete(message.faultId);
    this.writer.event('fault', `fault ${record.type} reverted on ${agent}/${record.containerName} by the agent (${message.cause})`, {
      faultId: record.faultId,
      state: 'reverted',
      cause: message.cause,
    });
  }

  /** An agent's connection dropped. */
  onAgentLost(agent: string): void {
    const holds = [...this.active.values()].some((fault) => fault.agent === agent);
    if (holds || (this.inMethod && this.plannedAgents().has(agent))) {
      this.abort('failed', `agent ${agent} was lost during the run; it reverts its faults itself when its lease expires`);
    }
  }

  private plannedAgents(): Set<string> {
    return new Set(Object.values(this.writer.journal.plan ?? {}).flatMap((targets) => targets.map((target) => target.agent)));
  }

  private async execute(): Promise<void> {
    const { writer } = this;
    const spec = this.experiment.spec;
    const timeoutMs = parseDuration(spec.safety.timeout);
    const timeout = setTimeout(() => this.abort('aborted', `the run exceeded safety.timeout (${spec.safety.timeout})`), timeoutMs);
    writer.status('running');
    let final: { status: FinalStatus; reason: string | null };
    try {
      final = await this.phases();
    } catch (error) {
      this.log.error({ err: error }, 'run failed');
      final = { status: 'failed', reason: errorMessage(error) };
    } finally {
      clearTimeout(timeout);
      for (const timer of this.backgroundTimers) clearTimeout(timer);
    }
    // Whatever happened, nothing of this run stays applied.
    const leftovers = await this.revertActive('end of run');
    if (leftovers.length > 0 && final.status === 'completed') {
      final = { status: 'failed', reason: `could not revert: ${leftovers.join('; ')}` };
    }
    writer.status(final.status, final.reason);
  }

  private async phases(): Promise<{ status: FinalStatus; reason: string | null }> {
    const { writer } = this;
    const spec = this.experiment.spec;
    writer.event('phase', 'resolving targets');
    const plan = await this.resolveTargets();
    if (this.outcome) return this.outcome;
    writer.journal.plan = plan;
    writer.save();
    const total = Object.values(plan).reduce((sum, targets) => sum + targets.length, 0);
    if (spec.safety.maxTargets !== undefined && total > spec.safety.maxTargets) {
      return {
        status: 'failed',
        reason: `the selection has ${total} containers, more than safety.maxTargets (${spec.safety.maxTargets}); nothing was injected`,
      };
    }

    writer.event('phase', 'steady state before');
    const before = await this.probePhase('before');
    if (this.outcome) return this.outcome;
    if (before.length > 0) {
      return { status: 'failed', reason: `steady state not met before the method (${before.join('; ')}); nothing was injected` };
    }
    if (writer.journal.dryRun) {
      return { status: 'completed', reason: `dry run: ${total} container(s) would be targeted; nothing was injected` };
    }

    writer.event('phase', 'method');
    this.inMethod = true;
    const duringStop = new AbortController();
    const during = this.duringProbes(duringStop.signal);
    try {
      await this.method(plan);
    } finally {
      this.inMethod = false;
      duringStop.abort();
      await during;
      const failures = await this.revertActive('method finished');
      if (failures.length > 0 && !this.outcome) this.abort('failed', `could not revert: ${failures.join('; ')}`);
    }
    const stopped = this.stoppedBy();
    if (stopped && stopped.status !== 'deviated') return stopped;

    writer.event('phase', 'steady state after');
    const after = await this.probePhase('after');
    const afterStop = this.stoppedBy();
    if (afterStop) return afterStop;
    if (after.length > 0) return { status: 'deviated', reason: `steady state not met after the method (${after.join('; ')})` };
    return { status: 'completed', reason: null };
  }

  /** Asks every matching agent for candidates, then applies `select` across all hosts together. */
  private async resolveTargets(): Promise<Record<string, PlannedTarget[]>> {
    const plan: Record<string, PlannedTarget[]> = {};
    const used = new Set(this.experiment.spec.method.flatMap((step) => ('fault' in step ? [step.target] : [])));
    for (const [name, target] of Object.entries(this.experiment.spec.targets)) {
      if (!used.has(name)) continue;
      const agents = this.deps.hub.connected(target.agents);
      if (agents.length === 0) {
        throw new FaultlineError(ErrorCode.NoTargets, `target ${name}: no connected agent matches ${JSON.stringify(target.agents ?? {})}`);
      }
      const candidates: Candidate[] = [];
      const answers = await Promise.allSettled(agents.map((agent) => this.deps.hub.listContainers(agent.name, target.containers)));
      answers.forEach((answer, index) => {
        const agent = agents[index]!.name;
        if (answer.status === 'rejected') {
          throw new FaultlineError(ErrorCode.AgentUnavailable, `target ${name}: agent ${agent} could not list containers: ${errorMessage(answer.reason)}`);
        }
        for (const container of answer.value) candidates.push({ agent, containerId: container.id, containerName: container.name });
      });
      const chosen = applySelect(candidates, target.select);
      if (chosen.length === 0) {
        throw new FaultlineError(
          ErrorCode.NoTargets,
          `target ${name}: no running container matches ${JSON.stringify(target.containers)} on ${agents.length} agent(s); nothing was injected`,
        );
      }
      // Refuse before anything is injected if a chosen agent cannot do a fault this target gets.
      const faults = new Set(this.experiment.spec.method.flatMap((step) => ('fault' in step && step.target === name ? [step.fault] : [])));
      for (const agent of new Set(chosen.map((c) => c.agent))) {
        const session = agents.find((a) => a.name === agent);
        const missing = [...faults].filter((fault) => !session?.hello.capabilities.faults.includes(fault));
        if (missing.length > 0) {
          throw new FaultlineError(
            ErrorCode.Unsupported,
            `target ${name}: agent ${agent} does not support ${missing.join(', ')} (it supports ${session?.hello.capabilities.faults.join(', ') || 'nothing'}); nothing was injected`,
          );
        }
      }
      plan[name] = chosen;
      this.writer.event(
        'info',
        `target ${name}: ${chosen.length} of ${candidates.length} matching container(s): ${chosen.map((c) => `${c.agent}/${c.containerName}`).join(', ')}`,
        { target: name, chosen },
      );
    }
    return plan;
  }

  private probesFor(phase: ProbePhase): Probe[] {
    return this.experiment.spec.steadyState.probes.filter((probe) => probe.when.includes(phase));
  }

  /** Runs a phase's probes once each, concurrently; returns the failures. */
  private async probePhase(phase: 'before' | 'after'): Promise<string[]> {
    const probes = this.probesFor(phase);
    const results = await Promise.all(probes.map((probe) => this.probeOnce(probe, phase)));
    return results.filter((result) => !result.ok).map((result) => `${result.probe}: ${result.error ?? result.output}`);
  }

  /** Runs one attempt of a probe where it says (`from`), records it, and returns the combined result. */
  private async probeOnce(probe: Probe, phase: ProbePhase, signal?: AbortSignal): Promise<ProbeResult> {
    if (probe.from !== 'controller') return this.probeOnAgents(probe, probe.from.agents, phase);
    let result: ProbeResult;
    try {
      result = await this.deps.runProbe(probe, phase, signal ? { allowExec: this.deps.allowExecProbes, signal } : { allowExec: this.deps.allowExecProbes });
    } catch (error) {
      result = { probe: probe.name, type: probe.type, phase, ok: false, at: Date.now(), durationMs: 0, from: 'controller', output: '', error: errorMessage(error) };
    }
    // A `during` attempt cut short because the method ended says nothing about the system: drop it.
    if (signal?.aborted) return result;
    this.recordProbe(result);
    return result;
  }

  /** Runs the probe on every chosen agent's host at once; it holds only if it holds on all of them. */
  private async probeOnAgents(probe: Probe, selector: AgentSelector, phase: ProbePhase): Promise<ProbeResult> {
    const at = Date.now();
    const failed = (error: string): ProbeResult => {
      const result: ProbeResult = { probe: probe.name, type: probe.type, phase, ok: false, at, durationMs: 0, from: 'agents', output: '', error };
      this.recordProbe(result);
      return result;
    };
    if (!isNetworkProbe(probe)) return failed(`${probe.type} probes run only on the controller`);
    const agents = this.deps.hub.connected(selector);
    if (agents.length === 0) return failed(`no connected agent matches ${JSON.stringify(selector)}`);
    const timeoutMs = parseDuration(probe.timeout) + 5000;
    const results = await Promise.all(
      agents.map(async (agent): Promise<ProbeResult> => {
        const base = { probe: probe.name, type: probe.type, phase, at, from: `agent:${agent.name}` };
        try {
          const reply = await this.deps.hub.probe(agent.name, probe, timeoutMs);
          const result: ProbeResult = { ...base, ok: reply.ok, durationMs: reply.durationMs, output: reply.output };
          if (reply.error !== undefined) result.error = reply.error;
          return result;
        } catch (error) {
          return { ...base, ok: false, durationMs: Date.now() - at, output: '', error: errorMessage(error) };
        }
      }),
    );
    for (const result of results) this.recordProbe(result);
    const failures = results.filter((result) => !result.ok);
    return {
      probe: probe.name,
      type: probe.type,
      phase,
      ok: failures.length === 0,
      at,
      durationMs: Math.max(...results.map((result) => result.durationMs)),
      from: 'agents',
      output: results.map((result) => `${result.from}: ${result.output}`).join('; '),
      ...(failures.length > 0 ? { error: failures.map((result) => `${result.from}: ${result.error ?? result.output}`).join('; ') } : {}),
    };
  }

  private recordProbe(result: ProbeResult): void {
    this.writer.journal.steadyState[result.phase].push(result);
    const where = result.from === 'controller' ? '' : ` on ${result.from}`;
    this.writer.event(
      'probe',
      `probe ${result.probe} (${result.phase})${where}: ${result.ok ? 'ok' : 'FAILED'} - ${result.ok ? result.output : (result.error ?? result.output)}`,
      { probe: result.probe, phase: result.phase, ok: result.ok, durationMs: result.durationMs, from: result.from },
    );
  }

  /** Runs each `during` probe on its interval until stopped; a probe failing `failAfter` times in a row deviates the run. */
  private async duringProbes(signal: AbortSignal): Promise<void> {
    await Promise.all(
      this.probesFor('during').map(async (probe) => {
        const interval = parseDuration(probe.interval);
        let failures = 0;
        while (!signal.aborted && !this.stop.signal.aborted) {
          const result = await this.probeOnce(probe, 'during', signal);
          if (signal.aborted) return;
          failures = result.ok ? 0 : failures + 1;
          if (failures >= probe.failAfter) {
            this.abort('deviated', `probe ${probe.name} failed during the method: ${result.error ?? result.output}`);
            return;
          }
          await sleep(interval, signal);
        }
      }),
    );
  }

  private async method(plan: Record<string, PlannedTarget[]>): Promise<void> {
    const steps = this.experiment.spec.method;
    for (const [index, step] of steps.entries()) {
      if (this.stop.signal.aborted) return;
      const label = `step ${index + 1}/${steps.length}`;
      if ('pause' in step) {
        this.writer.event('step', `${label}: pause ${step.pause}`);
        await sleep(parseDuration(step.pause), this.stop.signal);
        continue;
      }
      const durationMs = isSustained(step.fault) && 'duration' in step ? parseDuration(step.duration) : null;
      const targets = plan[step.target] ?? [];
      this.writer.event(
        'step',
        `${label}: ${step.fault} on ${step.target} (${targets.length} container(s))${durationMs === null ? '' : ` for ${formatDuration(durationMs)}`}${'background' in step && step.background ? ' in the background' : ''}`,
      );
      const applied = await this.inject(index, step.fault, step.target, step.params, durationMs, targets);
      if (!applied) return;
      if (durationMs === null) continue;
      if ('background' in step && step.background) {
        const timer = setTimeout(() => {
          this.backgroundTimers.delete(timer);
          void this.revertFaults(applied, 'deadline').then((failures) => {
            if (failures.length > 0) this.abort('failed', `could not revert: ${failures.join('; ')}`);
          });
        }, durationMs);
        this.backgroundTimers.add(timer);
        continue;
      }
      await sleep(durationMs, this.stop.signal);
      const failures = await this.revertFaults(applied, 'step finished');
      if (failures.length > 0) {
        this.abort('failed', `could not revert: ${failures.join('; ')}`);
        return;
      }
    }
  }

  /** Injects one step on every planned container; if any fails, the run fails (applied ones are reverted at the end). */
  private async inject(
    step: number,
    type: FaultRecord['type'],
    target: string,
    params: Record<string, unknown>,
    durationMs: number | null,
    targets: PlannedTarget[],
  ): Promise<string[] | undefined> {
    const records: FaultRecord[] = targets.map((planned, i) => ({
      faultId: `${this.id}-s${step}-${i}`,
      step,
      type,
      target,
      agent: planned.agent,
      containerId: planned.containerId,
      containerName: planned.containerName,
      params,
      durationMs,
      requestedAt: Date.now(),
      appliedAt: null,
      revertedAt: null,
    }));
    this.writer.journal.faults.push(...records);
    this.writer.save();
    const results = await Promise.allSettled(
      records.map(async (record) => {
        const reply = await this.deps.hub.inject(record.agent, {
          faultId: record.faultId,
          runId: this.id,
          fault: type,
          params,
          containerId: record.containerId,
          durationMs,
        });
        record.appliedAt = reply.appliedAt;
        record.details = reply.details;
        if (durationMs !== null) this.active.set(record.faultId, record);
        const mechanism = typeof reply.details.mechanism === 'string' ? ` (mechanism ${reply.details.mechanism})` : '';
        this.writer.event('fault', `fault ${type} applied on ${record.agent}/${record.containerName}${mechanism}`, {
          faultId: record.faultId,
          state: 'applied',
        });
      }),
    );
    const failed: string[] = [];
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') return;
      const record = records[i]!;
      record.error = errorMessage(result.reason);
      failed.push(`${record.agent}/${record.containerName}: ${record.error}`);
      // No answer in time: the agent may still apply it. Keep it for the end-of-run revert, which
      // waits for an inject in flight and succeeds for a fault the agent never applied.
      const unknown = durationMs !== null && result.reason instanceof FaultlineError && result.reason.code === ErrorCode.Timeout;
      if (unknown) this.active.set(record.faultId, record);
      this.writer.event(
        'error',
        `fault ${type} failed on ${record.agent}/${record.containerName}: ${record.error}${unknown ? ' (outcome unknown: it is reverted to be sure)' : ''}`,
        { faultId: record.faultId, state: 'failed' },
      );
    });
    if (failed.length > 0) {
      this.abort('failed', `fault ${type} could not be applied on ${failed.length} of ${records.length} target(s): ${failed.join('; ')}`);
      return undefined;
    }
    return records.map((record) => record.faultId);
  }

  /** Reverts the given faults if still active; returns the failures. */
  private async revertFaults(faultIds: string[], why: string): Promise<string[]> {
    const failures: string[] = [];
    await Promise.all(
      faultIds.map(async (faultId) => {
        const record = this.active.get(faultId);
        if (!record) return;
        try {
          const reply = await this.deps.hub.revert(record.agent, faultId);
          this.active.delete(faultId);
          // The agent may have reverted it on its own at the same moment (deadline); report it once.
          if (record.revertedAt !== null) return;
          record.revertedAt = reply.revertedAt;
          record.revertCause = reply.cause;
          this.writer.event('fault', `fault ${record.type} reverted on ${record.agent}/${record.containerName} (${why})`, {
            faultId,
            state: 'reverted',
          });
        } catch (error) {
          const lost = error instanceof FaultlineError && error.code === ErrorCode.AgentLost;
          record.revertError = errorMessage(error);
          this.writer.event(
            'error',
            `fault ${record.type} on ${record.agent}/${record.containerName}: revert failed: ${record.revertError}${lost ? ' (the agent reverts it itself when its lease expires)' : ''}`,
          );
          if (!lost) failures.push(`${record.agent}/${record.containerName}: ${record.revertError}`);
          else this.active.delete(faultId);
        }
      }),
    );
    return failures;
  }

  private revertActive(why: string): Promise<string[]> {
    return this.revertFaults([...this.active.keys()], why);
  }
}

/** Resolves after `ms`, or early when the signal aborts. Never rejects. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
