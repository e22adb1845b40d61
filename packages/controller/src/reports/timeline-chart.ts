/**
 * The timeline chart of a run as inline SVG: each probe attempt's latency over time (a dot when it
 * passed, a red cross when it failed), the fault windows shaded from applied to reverted and
 * labelled with fault type and container in lanes above the plot, and the run's phases below.
 */
import { formatDuration, type FaultRecord, type ProbeResult, type RunJournal } from '@faultline/shared';
import { containerLabel } from '../cli/format.js';
import { escapeHtml } from './escape.js';

/** One probe (per place it ran from) drawn as a series. */
export interface ChartSeries {
  key: string;
  label: string;
  type: string;
  color: string;
  ok: number;
  failed: number;
  medianMs: number | null;
}

/** The chart's SVG and what its legend needs. */
export interface TimelineChart {
  svg: string;
  series: ChartSeries[];
  /** Sustained faults drawn as a shaded window. */
  windows: number;
  /** Probe attempts drawn as a point. */
  points: number;
}

const WIDTH = 960;
const LEFT = 64;
const RIGHT = 20;
const LANE_HEIGHT = 22;
const MAX_LANES = 8;
const PLOT_HEIGHT = 240;
const ZERO_INSET = 10;
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif';

const SERIES_COLORS = ['#2563eb', '#7c3aed', '#0891b2', '#c026d3', '#4d7c0f', '#b45309', '#0f766e', '#4338ca'];
const FAILED_COLOR = '#dc2626';
const FAULT_COLORS: Record<string, string> = {
  'network-latency': '#f59e0b',
  'network-loss': '#f97316',
  'network-blackhole': '#ef4444',
  'network-bandwidth': '#eab308',
  'container-pause': '#8b5cf6',
  'container-stop': '#a855f7',
  'container-kill': '#e11d48',
  'container-restart': '#db2777',
};

const PHASE_NAMES: Record<string, string> = {
  'resolving targets': 'targets',
  'steady state before': 'before',
  method: 'method',
  'steady state after': 'after',
};

/** Draws the chart of a journal. */
export function timelineChart(journal: RunJournal): TimelineChart {
  const results = [...journal.steadyState.before, ...journal.steadyState.during, ...journal.steadyState.after].sort((a, b) => a.at - b.at);
  const applied = journal.faults.filter((f) => f.appliedAt !== null).sort((a, b) => (a.appliedAt ?? 0) - (b.appliedAt ?? 0));

  // Time domain: the run, widened to whatever was recorded outside it.
  const lastEvent = journal.timeline.at(-1)?.at ?? journal.createdAt;
  let t0 = Math.min(journal.startedAt ?? journal.createdAt, ...results.map((r) => r.at), ...applied.map((f) => f.appliedAt ?? Infinity));
  let t1 = Math.max(
    journal.endedAt ?? lastEvent,
    ...results.map((r) => r.at + r.durationMs),
    ...applied.map((f) => f.revertedAt ?? f.appliedAt ?? 0),
  );
  if (t1 - t0 < 1000) t1 = t0 + 1000;
  const pad = (t1 - t0) * 0.01;
  t0 -= pad;
  t1 += pad;
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (t: number): number => LEFT + ((t - t0) / (t1 - t0)) * plotWidth;

  const lanes = applied.slice(0, applied.length > MAX_LANES ? MAX_LANES - 1 : MAX_LANES);
  const hiddenFaults = applied.length - lanes.length;
  const laneRows = lanes.length + (hiddenFaults > 0 ? 1 : 0);
  const plotTop = 14 + (laneRows > 0 ? laneRows * LANE_HEIGHT + 10 : 0);
  const plotBottom = plotTop + PLOT_HEIGHT;
  const height = plotBottom + 64;

  const maxMs = Math.max(1, ...results.map((r) => r.durationMs));
  const { step, top } = niceScale(maxMs * 1.08, 4);
  // Zero sits a little above the plot's bottom edge, so marks at 0 ms stay clear of the time axis.
  const y = (ms: number): number => plotBottom - ZERO_INSET - (ms / top) * (PLOT_HEIGHT - ZERO_INSET - 6);

  const parts: string[] = [];
  const title = `Probe latency and fault windows of run ${journal.id}`;
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="timeline-chart" viewBox="0 0 ${WIDTH} ${height}" width="100%" role="img" aria-labelledby="chart-title" font-family='${FONT}'>`,
    `<title id="chart-title">${escapeHtml(title)}</title>`,
    `<rect x="${LEFT}" y="${plotTop}" width="${plotWidth}" height="${PLOT_HEIGHT}" fill="#fbfcfd" stroke="#d0d7de"/>`,
  );

  // Horizontal grid and latency labels.
  for (let v = 0; v <= top + step / 1000; v += step) {
    const yy = round(y(v));
    parts.push(
      `<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${yy}" y2="${yy}" stroke="${v === 0 ? '#8c959f' : '#e5e9ee'}"/>`,
      `<text x="${LEFT - 8}" y="${yy + 4}" text-anchor="end" font-size="11" fill="#57606a">${escapeHtml(formatMs(v))}</text>`,
    );
  }

  // Fault windows, shaded across the plot; instant faults as a dashed line. Fainter when many overlap.
  const sustained = applied.filter((f) => f.durationMs !== null).length;
  const opacity = sustained <= 1 ? 0.13 : Math.max(0.04, 0.2 / sustained);
  let windows = 0;
  for (const fault of applied) {
    const color = FAULT_COLORS[fault.type] ?? '#f59e0b';
    const x1 = x(fault.appliedAt ?? t0);
    const tip = escapeHtml(faultTooltip(fault));
    if (fault.durationMs === null) {
      parts.push(
        `<line class="fault-instant" x1="${round(x1)}" x2="${round(x1)}" y1="${plotTop}" y2="${plotBottom}" stroke="${color}" stroke-width="2" stroke-dasharray="5 3"><title>${tip}</title></line>`,
      );
      continue;
    }
    const x2 = x(fault.revertedAt ?? t1);
    windows += 1;
    parts.push(
      `<rect class="fault-window" data-fault-id="${escapeHtml(fault.faultId)}" x="${round(x1)}" y="${plotTop + 0.5}" width="${round(Math.max(1.5, x2 - x1))}" height="${PLOT_HEIGHT - 1}" fill="${color}" fill-opacity="${round(opacity * 100) / 100}" stroke="${color}" stroke-opacity="0.55" stroke-dasharray="${fault.revertedAt === null ? '6 3' : 'none'}"><title>${tip}</title></rect>`,
    );
  }

  // Fault lanes above the plot: one bar per fault, labelled with type and container.
  lanes.forEach((fault, i) => {
    const color = FAULT_COLORS[fault.type] ?? '#f59e0b';
    const laneY = 10 + i * LANE_HEIGHT;
    const x1 = x(fault.appliedAt ?? t0);
    const x2 = fault.durationMs === null ? x1 : x(fault.revertedAt ?? t1);
    const label = faultLabel(fault);
    const tip = escapeHtml(faultTooltip(fault));
    if (fault.durationMs === null) {
      parts.push(`<path class="fault-marker" d="M${round(x1)} ${laneY + 2} l6 7 l-6 7 l-6 -7 z" fill="${color}"><title>${tip}</title></path>`);
    } else {
      parts.push(
        `<rect class="fault-bar" x="${round(x1)}" y="${laneY + 2}" width="${round(Math.max(3, x2 - x1))}" height="${LANE_HEIGHT - 6}" rx="3" fill="${color}" fill-opacity="0.85"><title>${tip}</title></rect>`,
      );
    }
    // Inside the bar when it fits, else beside it, on the side with room.
    const textWidth = label.length * 6.3;
    const inside = x2 - x1 >= textWidth + 12;
    const anchorX = inside ? x1 + 6 : x2 + textWidth + 8 <= WIDTH - 4 ? x2 + 8 : x1 - 8;
    const anchor = !inside && x2 + textWidth + 8 > WIDTH - 4 ? 'end' : 'start';
    parts.push(
      `<text class="fault-label" x="${round(anchorX)}" y="${laneY + 15}" text-anchor="${anchor}" font-size="11" font-weight="600" fill="${inside ? '#1f2328' : '#424a53'}">${escapeHtml(label)}</text>`,
    );
  });
  if (hiddenFaults > 0) {
    parts.push(
      `<text x="${LEFT}" y="${10 + lanes.length * LANE_HEIGHT + 15}" font-size="11" fill="#57606a">… and ${hiddenFaults} more fault(s), shaded in the plot and listed under Faults</text>`,
    );
  }

  // Probe series: a faint line through each probe's attempts, a dot per pass, a red cross per failure.
  const series: ChartSeries[] = [];
  const byKey = new Map<string, ProbeResult[]>();
  for (const r of results) {
    const key = `${r.probe}@${r.from}`;
    byKey.set(key, [...(byKey.get(key) ?? []), r]);
  }
  let points = 0;
  [...byKey.entries()].forEach(([key, attempts], index) => {
    const color = SERIES_COLORS[index % SERIES_COLORS.length] ?? '#2563eb';
    const first = attempts[0]!;
    const label = first.from === 'controller' ? first.probe : `${first.probe} (from ${first.from.replace(/^agent:/, '')})`;
    const okDurations = attempts.filter((r) => r.ok).map((r) => r.durationMs);
    series.push({
      key,
      label,
      type: first.type,
      color,
      ok: okDurations.length,
      failed: attempts.length - okDurations.length,
      medianMs: median(okDurations),
    });
    if (attempts.length > 1) {
      const path = attempts.map((r) => `${round(x(r.at))},${round(y(r.durationMs))}`).join(' ');
      parts.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-opacity="0.45" stroke-width="1.5"/>`);
    }
    for (const r of attempts) {
      const cx = round(x(r.at));
      const cy = round(y(r.durationMs));
      const tip = escapeHtml(`${label} · ${r.phase} · ${r.ok ? 'ok' : 'FAILED'} · ${formatMs(r.durationMs)} at +${formatDuration(Math.max(0, r.at - (journal.startedAt ?? t0)))}\n${r.ok ? r.output : (r.error ?? r.output)}`);
      points += 1;
      if (r.ok) {
        parts.push(`<circle class="probe-point ok" data-probe="${escapeHtml(r.probe)}" cx="${cx}" cy="${cy}" r="3.6" fill="${color}" stroke="#fff" stroke-width="1"><title>${tip}</title></circle>`);
      } else {
        parts.push(
          `<path class="probe-point failed" data-probe="${escapeHtml(r.probe)}" d="M${cx - 4.5} ${cy - 4.5} L${cx + 4.5} ${cy + 4.5} M${cx - 4.5} ${cy + 4.5} L${cx + 4.5} ${cy - 4.5}" stroke="${FAILED_COLOR}" stroke-width="2.4" stroke-linecap="round"><title>${tip}</title></path>`,
        );
      }
    }
  });
  if (results.length === 0) {
    parts.push(
      `<text x="${LEFT + plotWidth / 2}" y="${plotTop + PLOT_HEIGHT / 2}" text-anchor="middle" font-size="13" fill="#57606a">No probe ran${applied.length > 0 ? '; the shaded areas are the fault windows' : ''}.</text>`,
    );
  }

  // Time axis, relative to the start of the run.
  const origin = journal.startedAt ?? t0;
  const tickStep = niceTimeStep(t1 - t0);
  for (let t = Math.ceil((t0 - origin) / tickStep) * tickStep; origin + t <= t1; t += tickStep) {
    const xx = round(x(origin + t));
    parts.push(
      `<line x1="${xx}" x2="${xx}" y1="${plotBottom}" y2="${plotBottom + 5}" stroke="#8c959f"/>`,
      `<text x="${xx}" y="${plotBottom + 18}" text-anchor="middle" font-size="11" fill="#57606a">${escapeHtml(t === 0 ? '0s' : `+${formatDuration(t)}`)}</text>`,
    );
  }

  // Phases of the run as a strip under the axis.
  const phases = journal.timeline
    .filter((e) => e.kind === 'phase' && PHASE_NAMES[e.message] !== undefined)
    .map((e) => ({ name: PHASE_NAMES[e.message] ?? e.message, at: e.at }));
  const stripY = plotBottom + 28;
  if (phases.length > 0) {
    parts.push(`<text x="${LEFT - 8}" y="${stripY + 13}" text-anchor="end" font-size="11" fill="#57606a">phase</text>`);
  }
  phases.forEach((phase, i) => {
    const end = phases[i + 1]?.at ?? journal.endedAt ?? t1;
    const x1 = x(phase.at);
    const w = Math.max(0, x(end) - x1);
    const fill = phase.name === 'method' ? '#fff4d6' : '#eef1f4';
    parts.push(`<rect class="phase" x="${round(x1)}" y="${stripY}" width="${round(w)}" height="18" fill="${fill}" stroke="#fff" stroke-width="1"/>`);
    if (w >= phase.name.length * 6.5 + 6) {
      parts.push(`<text x="${round(x1 + w / 2)}" y="${stripY + 13}" text-anchor="middle" font-size="11" fill="#424a53">${escapeHtml(phase.name)}</text>`);
    }
  });
  parts.push('</svg>');
  return { svg: parts.join('\n'), series, windows, points };
}

/** `network-latency 300ms · agent/web-1` */
function faultLabel(fault: FaultRecord): string {
  const key = ['latency', 'percent', 'rate', 'signal'].find((k) => fault.params[k] !== undefined);
  const param = key === undefined ? '' : ` ${String(fault.params[key])}${key === 'percent' ? '%' : ''}`;
  return `${fault.type}${param} · ${containerLabel(fault)}`;
}

function faultTooltip(fault: FaultRecord): string {
  const applied = fault.appliedAt === null ? '' : new Date(fault.appliedAt).toISOString();
  const reverted =
    fault.durationMs === null ? 'instant' : fault.revertedAt === null ? 'NOT REVERTED' : `reverted ${new Date(fault.revertedAt).toISOString()}${fault.revertCause ? ` (${fault.revertCause})` : ''}`;
  return `${faultLabel(fault)}\napplied ${applied}, ${reverted}`;
}

/** A "nice" step (1, 2, 2.5 or 5 × 10^k) giving about `ticks` intervals up to at least `max`. */
function niceScale(max: number, ticks: number): { step: number; top: number } {
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  return { step, top: Math.ceil(max / step - 1e-9) * step };
}

function niceTimeStep(spanMs: number): number {
  const steps = [250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000];
  return steps.find((s) => spanMs / s <= 12) ?? 7_200_000;
}

/** `12 ms`, `1.5 s`. */
export function formatMs(ms: number): string {
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(2))} s`;
  return `${Number(ms.toFixed(ms < 10 ? 1 : 0))} ms`;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
