/** The HTML report and its timeline chart, rendered from a hand-made journal. */
import { describe, expect, it } from 'vitest';
import { parseManifest, type Experiment, type FaultRecord, type ProbeResult, type RunJournal } from '@faultline/shared';
import { renderReport, timelineChart } from '../src/reports/index.js';

const T = Date.UTC(2026, 0, 5, 10, 0, 0);

function manifest(): Experiment {
  const result = parseManifest(`apiVersion: faultline/v1
kind: Experiment
metadata: {name: web-latency, description: "The shop <stays> up"}
spec:
  targets:
    web: {containers: {labels: {app: web}}}
  steadyState:
    probes:
      - {name: homepage, type: http, url: "http://127.0.0.1:8080/", when: [before, during, after]}
  method:
    - {fault: network-latency, target: web, duration: 10s, params: {latency: 300ms}}
    - {fault: container-kill, target: web}
`);
  if (!result.ok || result.manifest.kind !== 'Experiment') throw new Error('fixture invalid');
  return result.manifest;
}

function probe(phase: ProbeResult['phase'], at: number, durationMs: number, ok = true, name = 'homepage'): ProbeResult {
  return { probe: name, type: 'http', phase, ok, at: T + at, durationMs, from: 'controller', output: `HTTP 200 in ${durationMs}ms`, ...(ok ? {} : { error: 'too slow' }) };
}

function fault(i: number, overrides: Partial<FaultRecord> = {}): FaultRecord {
  return {
    faultId: `run-s0-${i}`,
    step: 0,
    type: 'network-latency',
    target: 'web',
    agent: i === 2 ? 'host-b' : 'host-a',
    containerId: `c0ffee${i}`,
    containerName: `web-${i + 1}`,
    params: { latency: '300ms' },
    durationMs: 10_000,
    requestedAt: T + 900,
    appliedAt: T + 1000,
    revertedAt: T + 11_000,
    revertCause: 'requested',
    ...overrides,
  };
}

function journal(overrides: Partial<RunJournal> = {}): RunJournal {
  const faults = [fault(0), fault(1), fault(2), fault(3, { type: 'container-kill', step: 1, durationMs: null, params: { signal: 'SIGKILL' }, appliedAt: T + 11_500, revertedAt: null })];
  return {
    id: 'run',
    experiment: 'web-latency',
    status: 'deviated',
    reason: 'probe homepage failed during the method: too slow',
    dryRun: false,
    trigger: 'manual',
    createdAt: T,
    startedAt: T,
    endedAt: T + 13_000,
    manifest: manifest(),
    plan: { web: faults.slice(0, 3).map(({ agent, containerId, containerName }) => ({ agent, containerId, containerName })) },
    steadyState: {
      before: [probe('before', 100, 5)],
      during: [probe('during', 2000, 310), probe('during', 4000, 320), probe('during', 6000, 1500, false)],
      after: [probe('after', 12_000, 6)],
    },
    faults,
    timeline: [
      { at: T, kind: 'status', message: 'run running' },
      { at: T + 50, kind: 'phase', message: 'steady state before' },
      { at: T + 800, kind: 'phase', message: 'method' },
      { at: T + 11_800, kind: 'phase', message: 'steady state after' },
      { at: T + 13_000, kind: 'status', message: 'run deviated' },
    ],
    ...overrides,
  };
}

describe('HTML report', () => {
  it('is one self-contained page: no script, no external resource', () => {
    const html = renderReport(journal(), 'html');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(|\bsrc=|\bhref=/i);
    // The only URL is the SVG namespace, which is an identifier, not a request.
    expect(html.match(/https?:\/\/[^\s"'<]+/g)?.filter((u) => u !== 'http://www.w3.org/2000/svg')).toEqual([]);
  });

  it('puts the verdict first, with status and reason', () => {
    const html = renderReport(journal(), 'html');
    const verdict = html.indexOf('id="verdict"');
    expect(verdict).toBeGreaterThan(0);
    expect(verdict).toBeLessThan(html.indexOf('class="timeline-chart"'));
    expect(html).toContain('<span class="status">deviated</span><h1>The hypothesis did not hold</h1>');
    expect(html).toContain('Deviated: the system left its steady state: probe homepage failed during the method: too slow.');
    expect(html).toContain('Hypothesis: The shop &lt;stays&gt; up');
  });

  it('draws one shaded window per sustained fault, a line per instant fault, a mark per probe attempt', () => {
    const chart = timelineChart(journal());
    expect(chart.windows).toBe(3);
    expect(chart.points).toBe(5);
    expect(chart.svg.match(/class="fault-window"/g)).toHaveLength(3);
    expect(chart.svg.match(/class="fault-instant"/g)).toHaveLength(1);
    expect(chart.svg.match(/class="probe-point ok"/g)).toHaveLength(4);
    expect(chart.svg.match(/class="probe-point failed"/g)).toHaveLength(1);
    expect(chart.svg).toContain('>network-latency 300ms · host-b/web-3</text>');
    expect(chart.svg).toContain('>container-kill SIGKILL · host-a/web-4</text>');
    expect(chart.series).toEqual([{ key: 'homepage@controller', label: 'homepage', type: 'http', color: '#2563eb', ok: 4, failed: 1, medianMs: 158 }]);
  });

  it('places marks by time and latency: the window spans applied→reverted, slower attempts sit higher', () => {
    const svg = timelineChart(journal({ faults: [fault(0)] })).svg;
    const rect = /<rect class="fault-window"[^>]* x="([\d.]+)"[^>]* width="([\d.]+)"/.exec(svg);
    const x1 = Number(rect?.[1]);
    const x2 = x1 + Number(rect?.[2]);
    const points = [...svg.matchAll(/class="probe-point ok"[^>]* cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
    expect(points).toHaveLength(4);
    const [before, during1, during2, after] = points as [{ x: number; y: number }, { x: number; y: number }, { x: number; y: number }, { x: number; y: number }];
    expect(before.x).toBeLessThan(x1);
    expect(during1.x).toBeGreaterThan(x1);
    expect(during2.x).toBeLessThan(x2);
    expect(after.x).toBeGreaterThan(x2);
    // 305 ms more on a 0–2 s axis of 240 px: about 37 px higher (screen y grows downwards).
    expect(during1.y).toBeLessThan(before.y - 30);
  });

  it('lists targets per agent', () => {
    const html = renderReport(journal(), 'html');
    expect(html).toMatch(/<h3>host-a <span[^>]*>· 2 container\(s\), 3 fault\(s\)<\/span><\/h3>/);
    expect(html).toMatch(/<h3>host-b <span[^>]*>· 1 container\(s\), 1 fault\(s\)<\/span><\/h3>/);
  });

  it('escapes names from manifests and agents', () => {
    const hostile = journal({
      steadyState: { before: [probe('before', 100, 5, true, '<img src=x onerror=alert(1)>')], during: [], after: [] },
      faults: [fault(0, { containerName: '"><script>alert(1)</script>' })],
    });
    const html = renderReport(hostile, 'html');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('says so when nothing ran (a run that failed before probing)', () => {
    const html = renderReport(journal({ status: 'failed', reason: 'target web: no running container matches', plan: null, faults: [], steadyState: { before: [], during: [], after: [] } }), 'html');
    expect(html).toContain('No probe ran.');
    expect(html).toContain('Targets were not resolved.');
    expect(html).toContain('None were injected.');
  });
});
