import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FAULT_TYPES, RUN_STATUSES, isFinalStatus, type RunJournal, type TimelineEvent } from '@faultline/shared';
import type { FaultRequestTiming, Hub } from '../hub/hub.js';
import type { JournalWriter } from '../runs/journal.js';

/** What the metrics read from the run manager when Prometheus scrapes. */
export interface RunSource {
  activeIds(): string[];
  live(id: string): JournalWriter | undefined;
  halted(): unknown;
}

/** Options of {@link ControllerMetrics}. */
export interface ControllerMetricsOptions {
  hub: Hub;
  runs: RunSource;
  /** Also export prom-client's process and Node.js metrics (`process_*`, `nodejs_*`). Default true. */
  defaultMetrics?: boolean;
}

// Agent round trips are milliseconds on a LAN, a proxy start is up to 5 s, a request times out at 15 s.
const FAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15];
// Probes are HTTP/TCP round trips and Prometheus queries; their own timeout is usually a few seconds.
const PROBE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The controller's Prometheus metrics, in a registry of its own (several controllers can live in
 * one process). Gauges are read from the hub and the run manager at scrape time; counters and
 * histograms are fed by the hub's `fault-request` events and by each run's journal.
 */
export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly runsTotal: Counter<'experiment' | 'status'>;
  private readonly applyDuration: Histogram<'type' | 'result'>;
  private readonly revertDuration: Histogram<'type' | 'result'>;
  private readonly probeDuration: Histogram<'type' | 'result'>;

  constructor(private readonly options: ControllerMetricsOptions) {
    const registers = [this.registry];
    const { hub, runs } = options;
    const liveJournals = (): RunJournal[] =>
      runs
        .activeIds()
        .map((id) => runs.live(id)?.journal)
        .filter((journal): journal is RunJournal => journal !== undefined);

    new Gauge({
      name: 'faultline_agents_connected',
      help: 'Agents connected to this controller now.',
      registers,
      collect() {
        this.set(hub.agents().filter((agent) => agent.connected).length);
      },
    });
    new Gauge({
      name: 'faultline_agents_known',
      help: 'Agents seen since the controller started, connected or not.',
      registers,
      collect() {
        this.set(hub.agents().length);
      },
    });
    this.runsTotal = new Counter({
      name: 'faultline_runs_total',
      help: 'Runs that ended since the controller started, by experiment and final status.',
      labelNames: ['experiment', 'status'],
      registers,
    });
    new Gauge({
      name: 'faultline_runs_active',
      help: 'Runs in progress (pending or running), by experiment.',
      labelNames: ['experiment'],
      registers,
      collect() {
        this.reset();
        for (const journal of liveJournals()) this.inc({ experiment: journal.experiment });
      },
    });
    new Gauge({
      name: 'faultline_faults_active',
      help: 'Sustained faults applied by live runs and not yet reverted, by fault type.',
      labelNames: ['type'],
      registers,
      collect() {
        // Every type is exported, at 0 when none is active, so "no fault" is a value and not a missing series.
        const counts = new Map<string, number>(FAULT_TYPES.map((type) => [type, 0]));
        for (const journal of liveJournals()) {
          for (const fault of journal.faults) {
            if (fault.durationMs !== null && fault.appliedAt !== null && fault.revertedAt === null) {
              counts.set(fault.type, (counts.get(fault.type) ?? 0) + 1);
            }
          }
        }
        for (const [type, count] of counts) this.set({ type }, count);
      },
    });
    new Gauge({
      name: 'faultline_agent_faults_active',
      help: 'Faults each agent holds, as it reports them (also faults of no live run, until the agent reverts them).',
      labelNames: ['agent'],
      registers,
      collect() {
        this.reset();
        for (const agent of hub.agents()) this.set({ agent: agent.name }, agent.activeFaults);
      },
    });
    // Every histogram counts by type and by result.
    const histogram = (name: string, help: string, buckets: number[]): Histogram<'type' | 'result'> =>
      new Histogram({ name, help, labelNames: ['type', 'result'], buckets, registers });
    this.applyDuration = histogram(
      'faultline_fault_apply_duration_seconds',
      'Time from the inject request to the agent\'s answer, by fault type and result (ok or error).',
      FAULT_BUCKETS,
    );
    this.revertDuration = histogram(
      'faultline_fault_revert_duration_seconds',
      'Time from a revert request to the agent\'s answer, by fault type and result (ok or error). Reverts the agent does on its own (deadline, lease) are not included.',
      FAULT_BUCKETS,
    );
    this.probeDuration = histogram(
      'faultline_probe_duration_seconds',
      'Duration of steady-state probe attempts, by probe type and result (ok or failed).',
      PROBE_BUCKETS,
    );
    new Gauge({
      name: 'faultline_halted',
      help: '1 while a halt is in force (no run starts until resume), else 0.',
      registers,
      collect() {
        this.set(runs.halted() === undefined ? 0 : 1);
      },
    });
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named like counters, which `promtool check metrics` flags; `nodejs_active_*` (by type) carry the same counts.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(name);
      }
    }

    hub.on('fault-request', (timing) => this.onFaultRequest(timing));
  }

  /** Watches one run's journal: probe attempts and the final status. Call it as the run starts. */
  observeRun(writer: JournalWriter): void {
    const journal = writer.journal;
    // Zero-valued series for the experiment's final statuses, so rates and alerts see them before the first run ends.
    for (const status of RUN_STATUSES) {
      if (isFinalStatus(status)) this.runsTotal.inc({ experiment: journal.experiment, status }, 0);
    }
    const onTimeline = (event: TimelineEvent): void => {
      if (event.kind !== 'probe' || event.data === undefined) return;
      const { probe, ok, durationMs } = event.data;
      if (typeof durationMs !== 'number') return;
      const type = journal.manifest.spec.steadyState.probes.find((p) => p.name === probe)?.type ?? 'unknown';
      this.probeDuration.observe({ type, result: ok === true ? 'ok' : 'failed' }, durationMs / 1000);
    };
    writer.on('timeline', onTimeline);
    writer.once('end', (summary) => {
      writer.off('timeline', onTimeline);
      this.runsTotal.inc({ experiment: summary.experiment, status: summary.status });
    });
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The Content-Type of {@link render}'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  private onFaultRequest(timing: FaultRequestTiming): void {
    const result = timing.ok ? 'ok' : 'error';
    const seconds = timing.durationMs / 1000;
    if (timing.action === 'inject') {
      this.applyDuration.observe({ type: timing.fault, result }, seconds);
      return;
    }
    this.revertDuration.observe({ type: this.faultType(timing.faultId), result }, seconds);
  }

  /** The type of a fault of a live run (a revert names only the fault id). */
  private faultType(faultId: string): string {
    for (const id of this.options.runs.activeIds()) {
      const fault = this.options.runs.live(id)?.journal.faults.find((f) => f.faultId === faultId);
      if (fault) return fault.type;
    }
    return 'unknown';
  }
}
