/**
 * The report of a run as a document of facts and sections, shared by the Markdown and HTML
 * renderings.
 */
import type { ProbeResult, RunJournal } from '@faultline/shared';
import { containerLabel, probeCounts, runDuration } from '../cli/format.js';

/** One titled section: paragraphs, a table and/or a list. */
export interface Section {
  title: string;
  paragraphs?: string[];
  table?: { headers: string[]; rows: string[][] };
  list?: string[];
}

/** A report: a title, key facts, and sections. */
export interface ReportDoc {
  title: string;
  facts: [string, string][];
  sections: Section[];
}

const MAX_LISTED_FAILURES = 50;
const MAX_TIMELINE = 1000;

/** ISO 8601 (UTC), `-` for null. */
export function iso(epochMs: number | null): string {
  return epochMs === null ? '-' : new Date(epochMs).toISOString();
}

/** The verdict of a run as one sentence. */
export function verdict(journal: RunJournal): string {
  const reason = journal.reason ? `: ${journal.reason}` : '';
  switch (journal.status) {
    case 'completed':
      return journal.dryRun
        ? 'Dry run completed: targets resolved and the steady state held before; nothing was injected.'
        : 'Completed: the hypothesis held before, during and after the faults.';
    case 'deviated':
      return `Deviated: the system left its steady state${reason}.`;
    case 'failed':
      return `Failed: the run could not proceed${reason}.`;
    case 'aborted':
      return `Aborted${reason}.`;
    case 'pending':
    case 'running':
      return `Still ${journal.status}; this report is partial.`;
  }
}

/** Builds the report document of a journal. */
export function buildReport(journal: RunJournal): ReportDoc {
  const manifest = journal.manifest;
  const sections: Section[] = [{ title: 'Verdict', paragraphs: [verdict(journal)] }];
  if (manifest.metadata.description) sections.push({ title: 'Hypothesis', paragraphs: [manifest.metadata.description] });

  const targetRows: string[][] = [];
  for (const [name, target] of Object.entries(manifest.spec.targets)) {
    const selector = [
      ...Object.entries(target.containers.labels ?? {}).map(([k, v]) => `${k}=${v}`),
      ...(target.containers.namePattern ? [`name ~ /${target.containers.namePattern}/`] : []),
      ...(target.containers.names ? [`names ${target.containers.names.join(', ')}`] : []),
    ].join('; ');
    const select = target.select.mode === 'count' || target.select.mode === 'percent' ? `${target.select.mode} ${target.select.value}` : target.select.mode;
    const chosen = journal.plan?.[name];
    if (!chosen || chosen.length === 0) {
      targetRows.push([name, selector || '-', select, chosen ? 'no match' : '-', '-']);
    } else {
      for (const c of chosen) targetRows.push([name, selector || '-', select, containerLabel(c), c.containerId.slice(0, 12)]);
    }
  }
  sections.push({ title: 'Targets', table: { headers: ['Target', 'Containers', 'Select', 'Chosen', 'Container id'], rows: targetRows } });

  sections.push(
    journal.faults.length === 0
      ? { title: 'Faults', paragraphs: [journal.dryRun ? 'None: dry run.' : 'None were injected.'] }
      : {
          title: 'Faults',
          table: {
            headers: ['Step', 'Fault', 'Target', 'Container', 'Params', 'Applied', 'Reverted', 'Error'],
            rows: journal.faults.map((f) => [
              String(f.step + 1),
              f.type,
              f.target,
              containerLabel(f),
              Object.entries(f.params)
                .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
                .join(', '),
              iso(f.appliedAt),
              f.revertedAt !== null
                ? `${iso(f.revertedAt)}${f.revertCause ? ` (${f.revertCause})` : ''}`
                : f.durationMs === null
                  ? 'instant'
                  : f.appliedAt === null
                    ? '-'
                    : 'NOT REVERTED',
              [f.error, f.revertError ? `revert: ${f.revertError}` : undefined].filter(Boolean).join('; '),
            ]),
          },
        },
  );

  const counts = probeCounts(journal);
  const probeRows: string[][] = [];
  for (const phase of ['before', 'during', 'after'] as const) {
    const byProbe = new Map<string, ProbeResult[]>();
    for (const r of journal.steadyState[phase]) byProbe.set(r.probe, [...(byProbe.get(r.probe) ?? []), r]);
    for (const [probe, results] of byProbe) {
      const failed = results.filter((r) => !r.ok);
      const lastFailure = failed.at(-1);
      probeRows.push([
        phase,
        probe,
        results[0]?.type ?? '',
        String(results.length),
        String(results.length - failed.length),
        String(failed.length),
        lastFailure ? lastFailure.error ?? lastFailure.output : '',
      ]);
    }
  }
  const failures = (['before', 'during', 'after'] as const).flatMap((phase) => journal.steadyState[phase].filter((r) => !r.ok));
  const steady: Section = { title: 'Steady state' };
  if (probeRows.length === 0) steady.paragraphs = ['No probe ran.'];
  else {
    steady.paragraphs = [
      `before: ${counts.before.ok}/${counts.before.ok + counts.before.failed} ok, during: ${counts.during.ok}/${counts.during.ok + counts.during.failed} ok, after: ${counts.after.ok}/${counts.after.ok + counts.after.failed} ok`,
    ];
    steady.table = { headers: ['Phase', 'Probe', 'Type', 'Attempts', 'Ok', 'Failed', 'Last failure'], rows: probeRows };
  }
  sections.push(steady);
  if (failures.length > 0) {
    const list = failures
      .slice(0, MAX_LISTED_FAILURES)
      .map((r) => `${iso(r.at)} ${r.probe} (${r.phase}, from ${r.from}): ${r.error ?? 'failed'}; ${r.output}`);
    if (failures.length > MAX_LISTED_FAILURES) list.push(`… and ${failures.length - MAX_LISTED_FAILURES} more`);
    sections.push({ title: 'Failed probe attempts', list });
  }
  const timeline = journal.timeline.slice(0, MAX_TIMELINE).map((e) => `${iso(e.at)} [${e.kind}] ${e.message}`);
  if (journal.timeline.length > MAX_TIMELINE) timeline.push(`… and ${journal.timeline.length - MAX_TIMELINE} more events`);
  sections.push({ title: 'Timeline', list: timeline });

  return {
    title: `Run ${journal.id}: ${journal.experiment}`,
    facts: [
      ['Status', `${journal.status}${journal.dryRun ? ' (dry run)' : ''}`],
      ['Reason', journal.reason ?? '-'],
      ['Trigger', journal.trigger],
      ['Started', iso(journal.startedAt)],
      ['Ended', iso(journal.endedAt)],
      ['Duration', runDuration(journal)],
      ['Run timeout', manifest.spec.safety.timeout],
    ],
    sections,
  };
}
