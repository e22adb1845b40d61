/** `faultline report gd-...`: a game-day run's report, built from its record and the journals of its runs. */
import { formatDuration, type GameDayRun, type RunJournal } from '@faultline/shared';
import { renderReport, type ReportFormat } from '../reports/index.js';
import { escapeHtml } from '../reports/escape.js';
import { iso } from '../reports/model.js';
import type { ApiClient } from './client.js';

/** True for game-day run ids (`gd-...`); experiment run ids never contain `-`. */
export function isGameDayRunId(id: string): boolean {
  return id.startsWith('gd-');
}

/** Fetches a game-day run and the journals of the runs it started, and renders them. */
export async function gameDayReport(client: ApiClient, id: string, format: ReportFormat): Promise<string> {
  const run = await client.get<GameDayRun>(`/api/v1/gameday-runs/${encodeURIComponent(id)}`);
  const journals: RunJournal[] = [];
  for (const step of run.steps) {
    if (step.runId !== null) journals.push(await client.get<RunJournal>(`/api/v1/runs/${encodeURIComponent(step.runId)}`));
  }
  return renderGameDayReport(run, journals, format);
}

function span(start: number | null, end: number | null): string {
  return start === null || end === null ? '-' : formatDuration(Math.max(0, end - start));
}

/** The verdict of a game-day run in one sentence. */
export function gameDayVerdict(run: GameDayRun): string {
  const reason = run.reason ? `: ${run.reason}` : '';
  switch (run.status) {
    case 'completed':
      return `Completed${reason}. Every experiment held its hypothesis.`;
    case 'deviated':
      return `Deviated${reason}.`;
    case 'failed':
      return `Failed${reason}.`;
    case 'aborted':
      return `Aborted${reason}.`;
    case 'pending':
    case 'running':
      return `Still ${run.status}; this report is partial.`;
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Renders a game-day run: JSON (the record and every run's journal), Markdown (with each run's report), or HTML. */
export function renderGameDayReport(run: GameDayRun, journals: readonly RunJournal[], format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify({ gamedayRun: run, runs: journals }, null, 2)}\n`;
  const facts: [string, string][] = [
    ['Game-day run', run.id],
    ['Game day', run.gameday],
    ['Status', run.status],
    ['Trigger', run.trigger],
    ['Dry run', run.dryRun ? 'yes' : 'no'],
    ['Stop on deviation', run.stopOnDeviation ? 'yes' : 'no'],
    ['Started', iso(run.startedAt)],
    ['Ended', iso(run.endedAt)],
    ['Duration', span(run.startedAt, run.endedAt)],
  ];
  const headers = ['#', 'Experiment', 'Run', 'Status', 'Duration', 'Reason'];
  const rows = run.steps.map((step, index) => [
    String(index + 1),
    step.experiment,
    step.runId ?? '-',
    step.status,
    span(step.startedAt, step.endedAt),
    step.reason ?? '',
  ]);
  if (format === 'md') {
    const parts = [
      `# Game day ${run.gameday} (${run.id})`,
      ['| | |', '|---|---|', ...facts.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`)].join('\n'),
      `## Verdict\n\n${gameDayVerdict(run)}`,
      [
        '## Experiments',
        '',
        `| ${headers.join(' | ')} |`,
        `|${headers.map(() => '---').join('|')}|`,
        ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
      ].join('\n'),
    ];
    for (const journal of journals) {
      // Each run's own report, one heading level down.
      const body = renderReport(journal, 'md').replace(/^(#+) /gm, '#$1 ');
      parts.push(body.trimEnd());
    }
    return `${parts.join('\n\n')}\n`;
  }

  const table = (head: string[], body: string[][]) =>
    `<table>\n<thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>\n<tbody>\n${body
      .map((row) => `<tr>${row.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
      .join('\n')}\n</tbody>\n</table>`;
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeHtml(`Game day ${run.gameday} (${run.id})`)}</title>`,
    '<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}table{border-collapse:collapse;margin:.5rem 0}' +
      'th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}</style>',
    '</head>',
    '<body>',
    `<h1>${escapeHtml(`Game day ${run.gameday}`)}</h1>`,
    `<table>\n<tbody>\n${facts.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n')}\n</tbody>\n</table>`,
    '<h2>Verdict</h2>',
    `<p>${escapeHtml(gameDayVerdict(run))}</p>`,
    '<h2>Experiments</h2>',
    table(headers, rows),
    `<p>Each run's own report: <code>faultline report RUN --format html</code>.</p>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
