import { EventEmitter } from 'node:events';
import type { RunJournal, RunStatus, RunSummary, TimelineEvent } from '@faultline/shared';

/** Events of a journal: `timeline` for each new entry (with its sequence number), `end` once. */
export interface JournalEvents {
  timeline: [event: TimelineEvent & { seq: number }];
  end: [summary: RunSummary];
}

/** How long probe results may wait before the journal is written (they arrive every interval per probe). */
export const PROBE_SAVE_DELAY_MS = 500;

/**
 * Holds a run's journal, persists each change and tells listeners (the SSE stream) as it grows.
 * Every entry is persisted at once, except probe results: the whole journal is rewritten on each save,
 * so during-probes batch theirs (at most {@link PROBE_SAVE_DELAY_MS} late; a crash loses at most that).
 */
export class JournalWriter extends EventEmitter<JournalEvents> {
  private pendingSave: NodeJS.Timeout | undefined;

  constructor(
    readonly journal: RunJournal,
    private readonly persist: (journal: RunJournal) => void,
  ) {
    super();
    this.setMaxListeners(100);
  }

  event(kind: TimelineEvent['kind'], message: string, data?: Record<string, unknown>): void {
    const entry: TimelineEvent = data === undefined ? { at: Date.now(), kind, message } : { at: Date.now(), kind, message, data };
    this.journal.timeline.push(entry);
    if (kind === 'probe') this.saveSoon();
    else this.save();
    this.emit('timeline', { ...entry, seq: this.journal.timeline.length - 1 });
  }

  status(status: RunStatus, reason: string | null = null): void {
    this.journal.status = status;
    if (reason !== null) this.journal.reason = reason;
    if (status === 'running' && this.journal.startedAt === null) this.journal.startedAt = Date.now();
    const final = status !== 'pending' && status !== 'running';
    if (final) this.journal.endedAt = Date.now();
    this.event('status', reason ? `run ${status}: ${reason}` : `run ${status}`, { status });
    if (final) this.emit('end', summarize(this.journal));
  }

  /** Persists the journal now. */
  save(): void {
    clearTimeout(this.pendingSave);
    this.pendingSave = undefined;
    this.persist(this.journal);
  }

  private saveSoon(): void {
    this.pendingSave ??= setTimeout(() => this.save(), PROBE_SAVE_DELAY_MS);
  }
}

/** The list view of a journal. */
export function summarize(journal: RunJournal): RunSummary {
  const { id, experiment, status, reason, dryRun, trigger, createdAt, startedAt, endedAt } = journal;
  return { id, experiment, status, reason, dryRun, trigger, createdAt, startedAt, endedAt };
}
