/**
 * The HTML report: one self-contained file (inline CSS and SVG, no script, no external resource)
 * with the verdict first, the timeline chart, the targets per agent, then the details.
 */
import { formatDuration, type PlannedTarget, type ProbeResult, type RunJournal, type RunStatus } from '@faultline/shared';
import { containerLabel, probeCounts, runDuration } from '../cli/format.js';
import { escapeHtml as esc } from './escape.js';
import { buildReport, verdict, type Section } from './model.js';
import { formatMs, timelineChart } from './timeline-chart.js';

const HEADLINES: Record<RunStatus, string> = {
  completed: 'The hypothesis held',
  deviated: 'The hypothesis did not hold',
  failed: 'The run failed',
  aborted: 'The run was aborted',
  pending: 'The run has not started yet',
  running: 'The run is still in progress',
};

const CSS = `
:root{--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa;--card:#fff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif}
main{max-width:1040px;margin:0 auto;padding:24px 20px 40px}
.verdict{border-radius:10px;padding:18px 22px;border:1px solid;border-left-width:8px;margin-bottom:18px}
.verdict .status{display:inline-block;font-size:12px;font-weight:700;letter-spacing:.08em;text-transform:uppercase;color:#fff;border-radius:999px;padding:2px 10px;margin-right:10px;vertical-align:middle}
.verdict h1{display:inline;font-size:24px;margin:0;vertical-align:middle}
.verdict .experiment{color:var(--muted);font-size:13px;margin:2px 0 8px}
.verdict .experiment code{font-size:12px}
.verdict .sentence{font-size:16px;margin:8px 0 4px;font-weight:500}
.verdict .hypothesis{color:var(--muted);margin:4px 0 0;font-style:italic}
.status-completed{background:#eefbf1;border-color:#1a7f37}.status-completed .status{background:#1a7f37}
.status-deviated{background:#fff4e5;border-color:#bc4c00}.status-deviated .status{background:#bc4c00}
.status-failed{background:#ffefed;border-color:#cf222e}.status-failed .status{background:#cf222e}
.status-aborted{background:#f3f4f6;border-color:#57606a}.status-aborted .status{background:#57606a}
.status-pending,.status-running{background:#eef6ff;border-color:#0969da}.status-pending .status,.status-running .status{background:#0969da}
.facts{display:flex;flex-wrap:wrap;gap:6px 26px;margin:14px 0 0;padding:0}
.facts div{min-width:0}.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}.facts dd{margin:0;font-weight:600}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin-bottom:16px}
h2{font-size:16px;margin:0 0 12px}
.legend{display:flex;flex-wrap:wrap;gap:6px 20px;margin:8px 0 0;padding:0;list-style:none;font-size:13px}
.legend li{display:flex;align-items:center;gap:6px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:50%}
.swatch.window{border-radius:2px;background:#f59e0b33;border:1px solid #f59e0b}
.cross{color:#dc2626;font-weight:700}
.muted{color:var(--muted)}
.agents{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:12px}
.agent{border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.agent h3{font-size:14px;margin:0 0 6px}
.agent ul{margin:0;padding-left:18px}
.agent code{font-size:12px;color:var(--muted)}
.selection{margin:10px 0 0;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #eaeef2;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
td.bad,.bad{color:#cf222e}.good{color:#1a7f37}.small{font-size:11px}.nowrap{white-space:nowrap}.params{display:inline-block;min-width:12em}.table-wrap{overflow-x:auto}
ul.failures li,ul.events li{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12px}
details summary{cursor:pointer;font-weight:600}
footer{color:var(--muted);font-size:12px;text-align:center}
`;

/** Renders a journal as a self-contained HTML page. */
export function renderHtml(journal: RunJournal): string {
  const doc = buildReport(journal);
  const section = (title: string): Section | undefined => doc.sections.find((s) => s.title === title);
  const chart = timelineChart(journal);
  const parts: string[] = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(doc.title)} · ${esc(journal.status)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    verdictBanner(journal),
    chartSection(journal, chart),
    targetsSection(journal),
  ];
  parts.push(faultsSection(journal), steadyStateSection(journal));
  const failures = section('Failed probe attempts');
  if (failures) parts.push(sectionHtml(failures, 'failures'));
  const timeline = section('Timeline');
  if (timeline) {
    parts.push(
      '<section class="events">',
      `<details><summary>Event log (${journal.timeline.length} events)</summary>`,
      `<ul class="events">${(timeline.list ?? []).map((item) => `<li>${esc(item)}</li>`).join('\n')}</ul>`,
      '</details>',
      '</section>',
    );
  }
  parts.push(`<footer>Faultline run report · generated ${esc(new Date().toISOString())}</footer>`, '</main>', '</body>', '</html>');
  return `${parts.join('\n')}\n`;
}

function verdictBanner(journal: RunJournal): string {
  const counts = probeCounts(journal);
  const ok = counts.before.ok + counts.during.ok + counts.after.ok;
  const failed = counts.before.failed + counts.during.failed + counts.after.failed;
  const applied = journal.faults.filter((f) => f.appliedAt !== null);
  const containers = new Set(applied.map((f) => `${f.agent}/${f.containerId}`)).size;
  const facts: [string, string][] = [
    ['Run', journal.id],
    ['Started', journal.startedAt === null ? '-' : utc(journal.startedAt)],
    ['Duration', runDuration(journal)],
    ['Trigger', journal.trigger],
    ['Faults', journal.dryRun ? 'none (dry run)' : `${applied.length} on ${containers} container(s)`],
    ['Probe attempts', `${ok} ok · ${failed} failed`],
  ];
  const headline = journal.dryRun && journal.status === 'completed' ? 'Dry run: the plan is ready' : HEADLINES[journal.status];
  const description = journal.manifest.metadata.description;
  return [
    `<header class="verdict status-${esc(journal.status)}" id="verdict">`,
    `<span class="status">${esc(journal.status)}${journal.dryRun ? ' · dry run' : ''}</span><h1>${esc(headline)}</h1>`,
    `<p class="experiment">experiment <strong>${esc(journal.experiment)}</strong></p>`,
    `<p class="sentence">${esc(verdict(journal))}</p>`,
    description ? `<p class="hypothesis">Hypothesis: ${esc(description)}</p>` : '',
    `<dl class="facts">${facts.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>`,
    '</header>',
  ].join('\n');
}

function chartSection(journal: RunJournal, chart: ReturnType<typeof timelineChart>): string {
  const legend = chart.series.map(
    (s) =>
      `<li><span class="swatch" style="background:${s.color}"></span><strong>${esc(s.label)}</strong> <span class="muted">${esc(s.type)} · ${s.ok} ok${s.failed > 0 ? ` · <span class="cross">${s.failed} failed</span>` : ''}${s.medianMs === null ? '' : ` · median ${esc(formatMs(s.medianMs))}`}</span></li>`,
  );
  legend.push('<li><span class="cross">✕</span> failed attempt</li>');
  if (chart.windows > 0) legend.push('<li><span class="swatch window"></span> fault active (applied → reverted)</li>');
  const start = journal.startedAt === null ? '' : ` Time is relative to the start of the run (${esc(utc(journal.startedAt))}).`;
  return [
    '<section class="chart">',
    '<h2>Timeline: probe latency and faults</h2>',
    chart.svg,
    `<ul class="legend">${legend.join('')}</ul>`,
    `<p class="muted" style="margin:8px 0 0;font-size:12px">Each mark is one probe attempt, placed at its start, at the height of its latency.${start} Hover a mark or a fault for details.</p>`,
    '</section>',
  ].join('\n');
}

function targetsSection(journal: RunJournal): string {
  const spec = journal.manifest.spec;
  const byAgent = new Map<string, (PlannedTarget & { target: string })[]>();
  for (const [target, chosen] of Object.entries(journal.plan ?? {})) {
    for (const c of chosen) byAgent.set(c.agent, [...(byAgent.get(c.agent) ?? []), { ...c, target }]);
  }
  const parts = ['<section class="targets">', '<h2>Targets per agent</h2>'];
  if (byAgent.size === 0) {
    parts.push(`<p class="muted">${journal.plan === null ? 'Targets were not resolved.' : 'No container was selected.'}</p>`);
  } else {
    parts.push('<div class="agents">');
    for (const [agent, containers] of [...byAgent.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const faults = journal.faults.filter((f) => f.agent === agent && f.appliedAt !== null).length;
      parts.push(
        `<div class="agent"><h3>${esc(agent)} <span class="muted" style="font-weight:400">· ${containers.length} container(s), ${faults} fault(s)</span></h3><ul>`,
        ...containers.map((c) => `<li>${esc(c.containerName.replace(/^\//, ''))} <span class="muted">(${esc(c.target)})</span> <code>${esc(c.containerId.slice(0, 12))}</code></li>`),
        '</ul></div>',
      );
    }
    parts.push('</div>');
  }
  const selections = Object.entries(spec.targets).map(([name, target]) => {
    const conditions = [
      ...Object.entries(target.containers.labels ?? {}).map(([k, v]) => `${k}=${v}`),
      ...(target.containers.namePattern ? [`name ~ /${target.containers.namePattern}/`] : []),
      ...(target.containers.names ? [`names ${target.containers.names.join(', ')}`] : []),
    ];
    const select = target.select.mode === 'count' || target.select.mode === 'percent' ? `${target.select.mode} ${target.select.value}` : target.select.mode;
    const chosen = journal.plan?.[name]?.length;
    return `<strong>${esc(name)}</strong>: ${esc(conditions.join(', ') || 'any container')}, select ${esc(select)}${chosen === undefined ? '' : ` → ${chosen} chosen`}`;
  });
  parts.push(`<p class="selection muted">${selections.join(' · ')}${spec.safety.maxTargets === undefined ? '' : ` · safety.maxTargets ${spec.safety.maxTargets}`}</p>`, '</section>');
  return parts.join('\n');
}

function faultsSection(journal: RunJournal): string {
  const parts = ['<section class="faults">', '<h2>Faults</h2>'];
  if (journal.faults.length === 0) {
    parts.push(`<p class="muted">${journal.dryRun ? 'None: dry run.' : 'None were injected.'}</p>`, '</section>');
    return parts.join('\n');
  }
  const origin = journal.startedAt ?? journal.createdAt;
  const when = (at: number) =>
    `<span class="nowrap">+${formatDuration(Math.max(0, at - origin))}</span> <span class="muted small nowrap">${esc(new Date(at).toISOString().slice(11, 23))}</span>`;
  const rows = journal.faults.map((f) => {
    const params = Object.entries(f.params)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(', ');
    const mechanism = typeof f.details?.mechanism === 'string' ? `, via ${f.details.mechanism}` : '';
    let reverted: string;
    let held = '';
    if (f.revertedAt !== null) {
      reverted = `${when(f.revertedAt)}${f.revertCause ? ` <span class="muted small nowrap">(${esc(f.revertCause)})</span>` : ''}`;
      if (f.appliedAt !== null) held = formatDuration(f.revertedAt - f.appliedAt);
    } else if (f.durationMs === null) {
      reverted = f.appliedAt === null ? '-' : '<span class="muted">instant</span>';
    } else {
      reverted = f.appliedAt === null ? '-' : '<span class="bad">NOT REVERTED</span>';
    }
    const errors = [f.error, f.revertError ? `revert: ${f.revertError}` : undefined].filter(Boolean).join('; ');
    return [
      String(f.step + 1),
      `<strong class="nowrap">${esc(f.type)}</strong>`,
      `<span class="nowrap">${esc(containerLabel(f))}</span><br><span class="muted small">target ${esc(f.target)}</span>`,
      `<span class="params">${esc(params)}${esc(mechanism)}</span>`,
      f.appliedAt === null ? '-' : when(f.appliedAt),
      reverted,
      esc(held),
      errors ? `<span class="bad">${esc(errors)}</span>` : '',
    ];
  });
  parts.push(
    htmlTable(['Step', 'Fault', 'Container', 'Params', 'Applied', 'Reverted', 'Held', 'Error'], rows),
    '<p class="muted small" style="margin:6px 0 0">Times are relative to the start of the run, then UTC clock time.</p>',
    '</section>',
  );
  return parts.join('\n');
}

function steadyStateSection(journal: RunJournal): string {
  const parts = ['<section class="steady-state">', '<h2>Steady state</h2>'];
  const rows: string[][] = [];
  for (const phase of ['before', 'during', 'after'] as const) {
    const byProbe = new Map<string, ProbeResult[]>();
    for (const r of journal.steadyState[phase]) {
      const key = `${r.probe}@${r.from}`;
      byProbe.set(key, [...(byProbe.get(key) ?? []), r]);
    }
    for (const results of byProbe.values()) {
      const first = results[0]!;
      const failed = results.filter((r) => !r.ok);
      const durations = results.map((r) => r.durationMs).sort((a, b) => a - b);
      const lastFailure = failed.at(-1);
      rows.push([
        esc(phase),
        `<strong>${esc(first.probe)}</strong>`,
        esc(first.type),
        esc(first.from),
        String(results.length),
        failed.length === 0 ? `<span class="good">${results.length}</span>` : String(results.length - failed.length),
        failed.length === 0 ? '0' : `<span class="bad">${failed.length}</span>`,
        esc(formatMs(durations[Math.floor(durations.length / 2)] ?? 0)),
        esc(formatMs(durations.at(-1) ?? 0)),
        lastFailure ? `<span class="bad">${esc(lastFailure.error ?? lastFailure.output)}</span>` : '',
      ]);
    }
  }
  if (rows.length === 0) parts.push('<p class="muted">No probe ran.</p>');
  else parts.push(htmlTable(['Phase', 'Probe', 'Type', 'From', 'Attempts', 'Ok', 'Failed', 'Median', 'Max', 'Last failure'], rows));
  parts.push('</section>');
  return parts.join('\n');
}

/** A table whose cells are already HTML. */
function htmlTable(headers: string[], rows: string[][]): string {
  return [
    '<div class="table-wrap"><table>',
    `<thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>`,
    `<tbody>${rows.map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`).join('\n')}</tbody>`,
    '</table></div>',
  ].join('\n');
}

function sectionHtml(section: Section, cls: string): string {
  const parts = [`<section class="${cls}">`, `<h2>${esc(section.title)}</h2>`];
  for (const p of section.paragraphs ?? []) parts.push(`<p>${esc(p)}</p>`);
  if (section.table) {
    const { headers, rows } = section.table;
    const bad = (header: string, cell: string) =>
      (header === 'Error' || header === 'Last failure') && cell !== '' ? ' class="bad"' : header === 'Reverted' && cell === 'NOT REVERTED' ? ' class="bad"' : '';
    parts.push(
      '<table>',
      `<thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>`,
      `<tbody>${rows.map((row) => `<tr>${row.map((cell, i) => `<td${bad(headers[i] ?? '', cell)}>${esc(cell)}</td>`).join('')}</tr>`).join('\n')}</tbody>`,
      '</table>',
    );
  }
  if (section.list) parts.push(`<ul class="${cls}">${section.list.map((item) => `<li>${esc(item)}</li>`).join('\n')}</ul>`);
  parts.push('</section>');
  return parts.join('\n');
}

function utc(epochMs: number): string {
  return `${new Date(epochMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')} UTC`;
}
