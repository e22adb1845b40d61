import { formatDuration, type FaultRecord, type ProbeResult, type RunJournal, type RunSummary, type TimelineEvent } from '@faultline/shared';

const PHASES = ['before', 'during', 'after'] as const;

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** `HH:MM:SS.mmm` in local time. */
export function clockTime(epochMs: number): string {
  const d = new Date(epochMs);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** `YYYY-MM-DD HH:MM:SS` in local time. */
export function dateTime(epochMs: number): string {
  const d = new Date(epochMs);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** One timeline event as a line: `HH:MM:SS.mmm  [kind] message`. */
export function timelineLine(event: TimelineEvent): string {
  return `${clockTime(event.at)}  [${event.kind}] ${event.message}`;
}

/** How long a run took, `-` when it has not started, elapsed time with `+` while it runs. */
export function runDuration(run: Pick<RunSummary, 'startedAt' | 'endedAt'>, now = Date.now()): string {
  if (run.startedAt === null) return '-';
  if (run.endedAt === null) return `${formatDuration(Math.max(0, now - run.startedAt))}+`;
  return formatDuration(Math.max(0, run.endedAt - run.startedAt));
}

/** Formats rows as aligned columns under upper-case headers. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n')}\n`;
}

/** Shortens text for a table cell. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `agent/container`, the way a fault's or plan's target is shown. */
export function containerLabel(target: { agent: string; containerName: string }): string {
  return `${target.agent}/${target.containerName.replace(/^\//, '')}`;
}

/** Per phase: how many probe attempts passed and failed. */
export function probeCounts(journal: RunJournal): Record<(typeof PHASES)[number], { ok: number; failed: number }> {
  const count = (results: ProbeResult[]) => ({
    ok: results.filter((r) => r.ok).length,
    failed: results.filter((r) => !r.ok).length,
  });
  return {
    before: count(journal.steadyState.before),
    during: count(journal.steadyState.during),
    after: count(journal.steadyState.after),
  };
}

/** A fault's applied/reverted state in words. */
export function faultState(fault: FaultRecord): string {
  const parts: string[] = [];
  if (fault.error !== undefined) parts.push(`failed: ${fault.error}`);
  if (fault.appliedAt !== null) parts.push(`applied ${clockTime(fault.appliedAt)}`);
  else if (fault.error === undefined) parts.push('not applied');
  if (fault.revertedAt !== null) {
    parts.push(`reverted ${clockTime(fault.revertedAt)}${fault.revertCause ? ` (${fault.revertCause})` : ''}`);
  } else if (fault.durationMs === null) {
    if (fault.appliedAt !== null) parts.push('(instant)');
  } else if (fault.appliedAt !== null) {
    parts.push('NOT REVERTED');
  }
  if (fault.revertError !== undefined) parts.push(`revert error: ${fault.revertError}`);
  return parts.join('  ');
}

/** A readable summary of a journal: status, reason, plan, faults per target, probe counts. */
export function journalSummary(journal: RunJournal, now = Date.now()): string {
  const lines: string[] = [];
  lines.push(`run ${journal.id}: ${journal.status}${journal.dryRun ? ' (dry run)' : ''}`);
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(11)}${value}`);
  row('experiment', journal.experiment);
  if (journal.reason) row('reason', journal.reason);
  row('trigger', journal.trigger);
  row('created', dateTime(journal.createdAt));
  if (journal.startedAt !== null) row('started', dateTime(journal.startedAt));
  if (journal.endedAt !== null) row('ended', dateTime(journal.endedAt));
  row('duration', runDuration(journal, now));

  if (journal.plan && Object.keys(journal.plan).length > 0) {
    lines.push(journal.dryRun ? 'plan (nothing injected):' : 'plan:');
    for (const [target, containers] of Object.entries(journal.plan)) {
      const list = containers.map((c) => `${containerLabel(c)} (${c.containerId.slice(0, 12)})`).join(', ');
      lines.push(`  ${target}: ${list || 'no containers'}`);
    }
  }

  if (journal.faults.length > 0) {
    lines.push('faults:');
    const byTarget = new Map<string, FaultRecord[]>();
    for (const fault of journal.faults) byTarget.set(fault.target, [...(byTarget.get(fault.target) ?? []), fault]);
    for (const [target, faults] of byTarget) {
      lines.push(`  ${target}:`);
      for (const fault of faults) {
        lines.push(`    step ${fault.step + 1} ${fault.type} on ${containerLabel(fault)}  ${faultState(fault)}`);
      }
    }
  } else if (!journal.dryRun && journal.startedAt !== null) {
    lines.push('faults: none injected');
  }

  const counts = probeCounts(journal);
  const total = PHASES.reduce((sum, phase) => sum + counts[phase].ok + counts[phase].failed, 0);
  if (total > 0) {
    lines.push('probes:');
    for (const phase of PHASES) {
      const { ok, failed } = counts[phase];
      if (ok + failed === 0) continue;
      lines.push(`  ${phase.padEnd(7)}${ok} ok${failed > 0 ? `, ${failed} failed` : ''}`);
    }
    const failures = PHASES.flatMap((phase) => journal.steadyState[phase].filter((r) => !r.ok));
    for (const failure of failures.slice(0, 5)) {
      lines.push(`  ✗ ${failure.probe} (${failure.phase}) at ${clockTime(failure.at)}: ${failure.error ?? failure.output}`);
    }
    if (failures.length > 5) lines.push(`  … and ${failures.length - 5} more failed attempts`);
  }
  return `${lines.join('\n')}\n`;
}
