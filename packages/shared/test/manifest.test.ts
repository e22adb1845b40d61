import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExperimentSchema, FAULT_TYPES, formatIssues, parseManifest, type ManifestIssue } from '../src/index.js';

const GOOD = `apiVersion: faultline/v1
kind: Experiment
metadata:
  name: web-latency
spec:
  targets:
    web:
      containers:
        labels: {app: web}
        namePattern: "^web-[0-9]+$"
      select: {mode: count, value: 1}
  steadyState:
    probes:
      - name: homepage
        type: http
        url: http://127.0.0.1:8080/
        expect: {status: 200, maxLatency: 800ms}
        when: [before, during, after]
  method:
    - fault: network-latency
      target: web
      duration: 30s
      params: {latency: 300ms, jitter: 20ms}
    - pause: 5s
    - fault: container-kill
      target: web
`;

function issuesOf(text: string): ManifestIssue[] {
  const result = parseManifest(text);
  if (result.ok) throw new Error('expected the manifest to be invalid');
  return result.issues;
}

describe('parseManifest', () => {
  it('accepts a valid experiment and applies defaults', () => {
    const result = parseManifest(GOOD);
    if (!result.ok || result.manifest.kind !== 'Experiment') throw new Error('expected a valid Experiment');
    const spec = result.manifest.spec;
    expect(spec.safety.timeout).toBe('10m');
    expect(spec.steadyState.probes[0]?.timeout).toBe('5s');
    const kill = spec.method[2];
    expect(kill && 'fault' in kill && kill.fault === 'container-kill' && kill.params.signal).toBe('SIGKILL');
    const latency = spec.method[0];
    expect(latency && 'fault' in latency && latency.fault === 'network-latency' && latency.params.mechanism).toBe('auto');
  });

  it('reports a YAML syntax error with line and column', () => {
    const issues = issuesOf('apiVersion: faultline/v1\nkind: Experiment\nmetadata:\n  name: x\n  bad: [1,\n');
    expect(issues[0]?.message).toMatch(/YAML syntax error/);
    expect(issues[0]?.line).toBeGreaterThanOrEqual(5);
  });

  it('reports every problem at once, each with its path and position', () => {
    const bad = GOOD.replace('duration: 30s', 'duration: -30s')
      .replace('fault: container-kill', 'fault: container-explode')
      .replace('^web-[0-9]+$', '^web-[(')
      .replace('    - pause: 5s\n', '    - pause: 5s\n    - fault: container-kill\n      target: db\n');
    const issues = issuesOf(bad);
    const byPath = new Map(issues.map((issue) => [issue.path, issue]));
    expect(byPath.get('spec.method.0.duration')).toMatchObject({ line: 22, column: 17 });
    expect(byPath.get('spec.method.0.duration')?.message).toMatch(/cannot be negative/);
    expect(byPath.get('spec.method.3.fault')?.message).toMatch(/unknown fault type "container-explode"/);
    expect(byPath.get('spec.method.2.target')?.message).toMatch(/target "db" is not defined/);
    expect(byPath.get('spec.targets.web.containers.namePattern')?.message).toMatch(/invalid regular expression/);
    expect(byPath.get('spec.targets.web.containers.namePattern')?.line).toBe(10);
  });

  it('names missing required fields', () => {
    const issues = issuesOf(GOOD.replace('      params: {latency: 300ms, jitter: 20ms}\n', '      params: {jitter: 20ms}\n').replace('  name: web-latency\n', '  description: no name\n'));
    const paths = issues.map((issue) => issue.path);
    expect(paths).toContain('metadata.name');
    expect(paths).toContain('spec.method.0.params.latency');
    expect(issues.find((issue) => issue.path === 'metadata.name')?.message).toMatch(/missing required field "name"/);
  });

  it('rejects unknown fields and wrong select values', () => {
    const issues = issuesOf(GOOD.replace('{mode: count, value: 1}', '{mode: count, value: 0}').replace('kind: Experiment', 'kind: Experiment\nextra: 1'));
    expect(issues.map((issue) => issue.path)).toEqual(expect.arrayContaining(['extra', 'spec.targets.web.select.value']));
  });

  it('rejects a duration on an instant fault and a missing duration on a sustained one', () => {
    const issues = issuesOf(GOOD.replace('      duration: 30s\n', '').replace('      target: web\n`', '      target: web\n      duration: 5s\n`') + '      duration: 5s\n');
    const paths = issues.map((issue) => issue.path);
    expect(paths).toContain('spec.method.0.duration');
    expect(paths).toContain('spec.method.2.duration');
  });

  it('formats issues as file:line:column: path: message', () => {
    const lines = formatIssues('x.yaml', [{ path: 'spec.method.0.duration', message: 'bad', line: 3, column: 7 }]);
    expect(lines).toEqual(['x.yaml:3:7: spec.method.0.duration: bad']);
  });

  it('never throws on arbitrary input', () => {
    for (const text of ['', '[]', '42', 'null', '{{{', '- a\n- b', 'kind: GameDay', '\u0000']) {
      expect(() => parseManifest(text)).not.toThrow();
    }
  });

  it('has an example in experiments/ that validates', () => {
    const dir = join(import.meta.dirname, '../../../experiments');
    const files = readdirSync(dir).filter((file) => file.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const result = parseManifest(readFileSync(join(dir, file), 'utf8'));
      expect(result.ok ? [] : formatIssues(file, result.issues)).toEqual([]);
    }
  });

  it('knows every fault type of SPEC §3', () => {
    expect([...FAULT_TYPES].sort()).toEqual(
      ['container-kill', 'container-pause', 'container-restart', 'container-stop', 'network-bandwidth', 'network-blackhole', 'network-latency', 'network-loss'].sort(),
    );
    expect(ExperimentSchema).toBeDefined();
  });
});
