import { EventEmitter } from 'node:events';
import type { RunJournal, RunStatus, RunSummary, TimelineEvent } from '@faultline/shared';

/** Events of a journal: `timeline` for each new entry (with its sequence number), `end` once. */
export interface JournalEvents {
  timeline: [event: TimelineEvent & { seq: number }];
  end: [summary: RunSummary];
}

/** Holds a run's journal, persists each change and tells listeners (the SSE stream) as it grows. */
export class JournalWriter extends EventEmitter<JournalEvents> {
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
    this.save();
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

  save(): void {
    this.persist(this.journal);
  }
}

/** The list view of a journal. */
export function summarize(journal: RunJournal): RunSummary {
  const { id, experiment, status, reason, dryRun, trigger, createdAt, startedAt, endedAt } = journal;
  return { id, experiment, status, reason, dryRun, trigger, createdAt, startedAt, endedAt };
}
