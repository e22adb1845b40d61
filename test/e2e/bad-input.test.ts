/** Bad manifests are rejected by `faultline validate` and by PUT with line and column; the controller keeps running. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTROLLER_MAIN, startController } from './fixtures/faultline.js';
import { runCommand, tempDir } from './fixtures/process.js';

const GOOD = `apiVersion: faultline/v1
kind: Experiment
metadata:
  name: NAME
spec:
  targets:
    web:
      containers:
        labels: {app: web}
  method:
    - fault: network-latency
      target: web
      duration: 30s
      params: {latency: 100ms}
`;

const BAD: Record<string, { text: string; path: string; line: number; message: RegExp }> = {
  'yaml-syntax': { text: GOOD.replace('labels: {app: web}', 'labels: {app: web'), path: '', line: 10, message: /YAML syntax error/ },
  'unknown-fault': { text: GOOD.replace('network-latency', 'network-explode'), path: 'spec.method.0.fault', line: 11, message: /unknown fault type/ },
  'negative-duration': { text: GOOD.replace('30s', '-30s'), path: 'spec.method.0.duration', line: 13, message: /negative/ },
  'undefined-target': { text: GOOD.replace('target: web', 'target: db'), path: 'spec.method.0.target', line: 12, message: /not defined/ },
  'invalid-regex': { text: GOOD.replace('labels: {app: web}', 'namePattern: "[a-"'), path: 'spec.targets.web.containers.namePattern', line: 9, message: /invalid regular expression/ },
  'missing-field': { text: GOOD.replace('      params: {latency: 100ms}\n', '      params: {}\n'), path: 'spec.method.0.params.latency', line: 14, message: /missing required field/ },
};

describe('bad manifests', () => {
  it('faultline validate reports file:line:column: path: message and exits 1', async () => {
    await using dir = await tempDir();
    const files: string[] = [];
    for (const [name, bad] of Object.entries(BAD)) {
      const file = join(dir.path, `${name}.yaml`);
      await writeFile(file, bad.text.replace('NAME', name));
      files.push(file);
    }
    const good = join(dir.path, 'good.yaml');
    await writeFile(good, GOOD.replace('NAME', 'good'));
    const result = await runCommand(process.execPath, [CONTROLLER_MAIN, 'validate', good, ...files]);
    expect(result.code).toBe(1);
    for (const [name, bad] of Object.entries(BAD)) {
      const file = join(dir.path, `${name}.yaml`);
      const line = result.stdout.split('\n').concat(result.stderr.split('\n')).find((l) => l.startsWith(`${file}:${bad.line}:`) && bad.message.test(l));
      expect(line, `${name}: expected ${file}:${bad.line}:<col>: ... ${bad.message} in\n${result.stdout}${result.stderr}`).toBeDefined();
      if (bad.path) expect(line).toContain(`: ${bad.path}: `);
    }
    const ok = await runCommand(process.execPath, [CONTROLLER_MAIN, 'validate', good]);
    expect(ok.code).toBe(0);
  });

  it('PUT answers 400 with path, line and column, stores nothing, and the controller keeps serving', async () => {
    await using controller = await startController();
    for (const [name, bad] of Object.entries(BAD)) {
      const response = await controller.api<{ error: string; details: { path: string; message: string; line?: number; column?: number }[] }>(
        'PUT',
        `/api/v1/experiments/${name}`,
        bad.text.replace('NAME', name),
        'application/yaml',
      );
      expect(response.status, name).toBe(400);
      const detail = response.body.details.find((d) => d.path === bad.path && bad.message.test(d.message));
      expect(detail, `${name}: ${response.text}`).toBeDefined();
      expect(detail?.line).toBe(bad.line);
      expect(detail?.column).toBeGreaterThan(0);
    }
    const list = await controller.api<unknown[]>('GET', '/api/v1/experiments');
    expect(list.body).toEqual([]);
    const health = await fetch(`${controller.url}/healthz`);
    expect(health.status).toBe(200);
    const good = await controller.api('PUT', '/api/v1/experiments/good', GOOD.replace('NAME', 'good'), 'application/yaml');
    expect(good.status).toBe(201);
    const unauthorized = await fetch(`${controller.url}/api/v1/experiments`);
    expect(unauthorized.status).toBe(401);
  });
});
