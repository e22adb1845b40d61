/**
 * Smoke test of the e2e fixtures themselves (needs Docker and root): if this fails, every other
 * e2e failure is suspect.
 */
import { writeFile, stat } from 'node:fs/promises';
import path from 'node:path';

import { describe, expect, test } from 'vitest';

import {
  containerExists,
  docker,
  iptablesDump,
  qdiscDump,
  startWebContainer,
  TEST_LABEL,
} from './fixtures/docker.js';
import { measureLatency, waitFor } from './fixtures/http.js';
import { freePort, runCommand, spawnProcess, tempDir } from './fixtures/process.js';

describe('docker fixtures (needs Docker and root)', () => {
  test('two web containers answer fast through their published ports and are gone after dispose', async () => {
    const ids: string[] = [];
    {
      await using a = await startWebContainer({ labels: { app: 'web', 'fl.smoke': 'a' } });
      await using b = await startWebContainer({ labels: { app: 'web', 'fl.smoke': 'b' } });
      ids.push(a.id, b.id);
      expect(a.port).not.toBe(b.port);

      for (const c of [a, b]) {
        const latency = await measureLatency(c.url, { samples: 20, intervalMs: 10 });
        expect(latency.errors, latency.errorMessages.join('\n')).toBe(0);
        expect(latency.samples).toHaveLength(20);
        expect(latency.median).toBeLessThan(50);

        const state = await c.state();
        expect(state).toMatchObject({ running: true, status: 'running', paused: false });
        expect(state.pid).toBe(c.pid);
        expect(await c.hostPort()).toBe(c.port);

        const info = await c.inspect();
        expect(info.Config.Labels?.[TEST_LABEL]).toBe('1');
        expect(info.Config.Labels?.app).toBe('web');

        // Works inside the container's own namespace (empty rule set is fine, errors are not).
        expect(typeof (await iptablesDump(c.pid))).toBe('string');
        expect(await qdiscDump(c.pid)).toMatch(/qdisc/);
      }
    }

    const all = (await docker(['ps', '-a', '-q', '--no-trunc'])).split('\n');
    for (const id of ids) expect(all).not.toContain(id);
  });

  test('a container is removed even when the test body throws', async () => {
    let id = '';
    const body = async (): Promise<void> => {
      await using c = await startWebContainer();
      id = c.id;
      throw new Error('boom');
    };
    await expect(body()).rejects.toThrow('boom');
    expect(id).not.toBe('');
    expect(await containerExists(id)).toBe(false);
  });

  test('a stopped container reports its exit code', async () => {
    await using c = await startWebContainer();
    await docker(['kill', '--signal', 'SIGKILL', c.id]);
    const state = await waitFor(
      async () => {
        const s = await c.state();
        return s.running ? undefined : s;
      },
      { timeoutMs: 10_000, message: 'container to stop' },
    );
    expect(state).toMatchObject({ running: false, status: 'exited', exitCode: 137 });
  });
});

describe('process fixtures', () => {
  test('spawnProcess streams lines, and dispose ends the process', async () => {
    let pid = 0;
    let exited: Promise<unknown> = Promise.resolve();
    {
      await using proc = await spawnProcess(
        process.execPath,
        ['-e', 'console.log("ready " + process.env.FL_SMOKE); setInterval(() => {}, 1000);'],
        { env: { FL_SMOKE: 'yes' }, name: 'smoke' },
      );
      pid = proc.pid;
      exited = proc.exited;
      expect(await proc.waitForLine(/^ready (\w+)$/, 10_000)).toBe('ready yes');
      expect(proc.exitStatus).toBeUndefined();
    }
    expect(await exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(() => process.kill(pid, 0)).toThrow();
  });

  test('waitForLine rejects, quoting the output, when the process exits first', async () => {
    await using proc = await spawnProcess(process.execPath, ['-e', 'console.error("bad flag"); process.exit(2)']);
    await expect(proc.waitForLine(/never/, 10_000)).rejects.toThrow(/exited \(code 2.*\n\[stderr\] bad flag/s);
  });

  test('runCommand returns exit code and output', async () => {
    const r = await runCommand(process.execPath, ['-e', 'process.stdout.write("a\\nb"); process.exit(3)']);
    expect(r).toMatchObject({ code: 3, stdout: 'a\nb', stderr: '' });
  });

  test('freePort and tempDir', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    let dir = '';
    {
      await using tmp = await tempDir('fl-smoke-');
      dir = tmp.path;
      await writeFile(path.join(dir, 'x'), 'y');
    }
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });
});
