import { type ProbeResult, type RunJournal } from '@faultline/shared';
import { remoteVerb } from './client.js';
import { containerLabel, probeCounts, runDuration } from './format.js';
import { EXIT_OK, stringOption, usageError, type CliIo, type VerbSpec } from './io.js';

const FORMATS = ['md', 'html', 'json'] as const;
type ReportFormat = (typeof FORMATS)[number];

export const reportSpec: VerbSpec = {
  name: 'report',
  usage: 'ID [--format md|html|json]',
  summary: 'print a run report: verdict, targets, faults, steady-state probes, timeline',
  options: { format: { type: 'string', short: 'f', value: 'FORMAT', description: 'md (default), html or json (the journal)' } },
  remote: true,
  positionals: { min: 1, max: 1 },
};

/** `faultline report ID` */
export async function reportCommand(argv: string[], io: CliIo): Promise<number> {
  return remoteVerb(reportSpec, argv, io, async (client, args) => {
    const format = (stringOption(args, 'format') ?? 'md') as ReportFormat;
    if (!FORMATS.includes(format)) return usageError(reportSpec, io, `--format must be one of ${FORMATS.join(', ')}`);
    const journal = await client.get<RunJournal>(`/api/v1/runs/${encodeURIComponent(args.positionals[0] ?? '')}`);
    io.stdout.write(renderReport(journal, format));
    return EXIT_OK;
  });
}

/** Renders a journal as a Markdown or HTML report, or as pretty JSON. */
export function renderReport(journal: RunJournal, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(journal, null, 2)}\n`;
    case 'md':
      return renderMarkdown(buildReport(journal));
    case 'html':
      return renderHtml(buildReport(journal));
  }
}

interface Section {
  title: string;
  paragraphs?: string[];
  table?: { headers: string[]; rows: string[][] };
  list?: string[];
}

interface ReportDoc {
  title: string;
  facts: [string, string][];
  sections: Section[];
}

const MAX_LISTED_FAILURES = 50;
const MAX_TIMELINE = 1000;

function iso(epochMs: number | null): string {
  return epochMs === null ? '-' : new Date(epochMs).toISOString();
}

function verdict(journal: RunJournal): string {
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

function buildReport(journal: RunJournal): ReportDoc {
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

function mdCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function renderMarkdown(doc: ReportDoc): string {
  const mdTable = (headers: string[], rows: string[][]) =>
    [`| ${headers.map(mdCell).join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.map(mdCell).join(' | ')} |`)].join('\n');
  const blocks: string[] = [`# ${doc.title}`, mdTable(['', ''], doc.facts)];
  for (const section of doc.sections) {
    blocks.push(`## ${section.title}`);
    for (const p of section.paragraphs ?? []) blocks.push(p);
    if (section.table) blocks.push(mdTable(section.table.headers, section.table.rows));
    if (section.list) blocks.push(section.list.map((item) => `- ${item.replace(/\r?\n/g, ' ')}`).join('\n'));
  }
  return `${blocks.join('\n\n')}\n`;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function htmlTable(headers: string[], rows: string[][]): string {
  const head = `<tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = rows.map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function renderHtml(doc: ReportDoc): string {
  const parts = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${esc(doc.title)}</title>`,
    '<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}table{border-collapse:collapse;margin:.5rem 0}' +
      'th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}' +
      'li{font-family:ui-monospace,monospace;font-size:.9em}</style>',
    '</head>',
    '<body>',
    `<h1>${esc(doc.title)}</h1>`,
    `<table>\n<tbody>\n${doc.facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n')}\n</tbody>\n</table>`,
  ];
  for (const section of doc.sections) {
    parts.push(`<h2>${esc(section.title)}</h2>`);
    for (const p of section.paragraphs ?? []) parts.push(`<p>${esc(p)}</p>`);
    if (section.table) parts.push(htmlTable(section.table.headers, section.table.rows));
    if (section.list) parts.push(`<ul>\n${section.list.map((item) => `<li>${esc(item)}</li>`).join('\n')}\n</ul>`);
  }
  parts.push('</body>', '</html>');
  return `${parts.join('\n')}\n`;
}
