import type { Experiment } from './manifest/experiment.js';
import type { FaultType } from './manifest/faults.js';
import type { ProbePhase } from './manifest/probes.js';
import type { RevertCause } from './protocol/common.js';

/** Run statuses (SPEC §4). The last four are final. */
export const RUN_STATUSES = ['pending', 'running', 'completed', 'deviated', 'aborted', 'failed'] as const;
/** A run status. */
export type RunStatus = (typeof RUN_STATUSES)[number];
/** True for completed, deviated, aborted and failed. */
export function isFinalStatus(status: RunStatus): boolean {
  return status !== 'pending' && status !== 'running';
}

/** How a run was started. */
export type RunTrigger = 'manual' | 'schedule' | 'gameday';

/** One probe attempt. */
export interface ProbeResult {
  probe: string;
  type: string;
  phase: ProbePhase;
  ok: boolean;
  /** Epoch ms when the attempt started. */
  at: number;
  durationMs: number;
  /** Where it ran: `controller` or `agent:<name>`. */
  from: string;
  /** What was observed, e.g. `HTTP 200 in 12ms`. */
  output: string;
  error?: string;
}

/** One fault on one container. Times are epoch ms. */
export interface FaultRecord {
  faultId: string;
  step: number;
  type: FaultType;
  target: string;
  agent: string;
  containerId: string;
  containerName: string;
  params: Record<string, unknown>;
  durationMs: number | null;
  requestedAt: number;
  appliedAt: number | null;
  revertedAt: number | null;
  revertCause?: RevertCause;
  details?: Record<string, unknown>;
  error?: string;
  revertError?: string;
}

/** A container chosen for a target. */
export interface PlannedTarget {
  agent: string;
  containerId: string;
  containerName: string;
}

/** One entry of a run's timeline. */
export interface TimelineEvent {
  at: number;
  kind: 'status' | 'phase' | 'probe' | 'fault' | 'step' | 'info' | 'error';
  message: string;
  data?: Record<string, unknown>;
}

/** A run's journal (SPEC §4), as stored and served by GET /api/v1/runs/{id}. */
export interface RunJournal {
  id: string;
  experiment: string;
  status: RunStatus;
  reason: string | null;
  dryRun: boolean;
  trigger: RunTrigger;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  manifest: Experiment;
  plan: Record<string, PlannedTarget[]> | null;
  steadyState: { before: ProbeResult[]; during: ProbeResult[]; after: ProbeResult[] };
  faults: FaultRecord[];
  timeline: TimelineEvent[];
}

/** A run in lists. */
export type RunSummary = Pick<
  RunJournal,
  'id' | 'experiment' | 'status' | 'reason' | 'dryRun' | 'trigger' | 'createdAt' | 'startedAt' | 'endedAt'
>;

/** An agent as GET /api/v1/agents shows it. */
export interface AgentView {
  name: string;
  labels: Record<string, string>;
  connected: boolean;
  lastSeen: number;
  version: string;
  capabilities: { faults: string[]; latencyMechanisms: string[] };
  leaseTimeoutMs: number;
  activeFaults: number;
}

/**
 * Server-sent events of GET /api/v1/runs/{id}/events: `timeline` events carry a {@link TimelineEvent}
 * (each with `seq`), and one final `end` event carries the {@link RunSummary}.
 */
export type RunStreamEvent = { event: 'timeline'; data: TimelineEvent & { seq: number } } | { event: 'end'; data: RunSummary };
