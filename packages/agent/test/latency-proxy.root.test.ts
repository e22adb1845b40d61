import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findProxies, startProxy, stopProxy } from '../src/host/latency-proxy.js';
import { nsRunChecked } from '../src/host/netns.js';
import { buildProxyScript } from './helpers/proxy-script.js';

// Needs root: the proxy runs in a throw-away network namespace (`unshare -n sleep`), no Docker.

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('latency proxy process lifecycle (root)', { timeout: 30_000 }, () => {
  let proxy: ReturnType<typeof buildProxyScript>;
  const children: ChildProcess[] = [];
  const faultIds: string[] = [];

  beforeAll(() => {
    proxy = buildProxyScript();
  });
  afterEach(async () => {
    for (const id of faultIds.splice(0)) for (const p of await findProxies(id)) await stopProxy(p.pid, id).catch(() => undefined);
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });
  afterAll(() => proxy?.dispose());

  async function namespaceHolder(): Promise<number> {
    const child = spawn('unshare', ['-n', 'sleep', '60'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((r) => setTimeout(r, 100));
    return child.pid!;
  }

  it('starts in the namespace, reports READY with its ports, is found by marker, and stops', async () => {
    const ns = await namespaceHolder();
    const faultId = `life-${process.pid}`;
    faultIds.push(faultId);
    const started = await startProxy({ pid: ns, faultId, map: [80, { listenPort: 15001, targetPort: 8080 }], latencyMs: 50, jitterMs: 0, deadline: Date.now() + 60_000, script: proxy.script });
    expect(started.ports).toEqual([
      { targetPort: 80, listenPort: expect.any(Number) },
      { targetPort: 8080, listenPort: 15001 },
    ]);
    expect(started.ports[0]!.listenPort).toBeGreaterThan(0);
    const listening = (await nsRunChecked(ns, 'ss', ['-Hltn'])).stdout;
    expect(listening).toContain('0.0.0.0:15001');
    expect(listening).toContain(`0.0.0.0:${started.ports[0]!.listenPort}`);
    expect(await findProxies(faultId)).toEqual([expect.objectContaining({ pid: started.proxyPid })]);
    // Not ours: other fault ids are not matched, and a pid whose cmdline differs is never signalled.
    expect(await findProxies(`${faultId}-other`)).toEqual([]);
    await stopProxy(ns, faultId);
    expect(alive(ns)).toBe(true);
    await stopProxy(started.proxyPid, `${faultId}-other`);
    expect(alive(started.proxyPid)).toBe(true);

    await stopProxy(started.proxyPid, faultId);
    expect(await findProxies(faultId)).toEqual([]);
    await stopProxy(started.proxyPid, faultId); // idempotent
  });

  it('reports a port it cannot bind and leaves no process', async () => {
    const ns = await namespaceHolder();
    const faultId = `bind-${process.pid}`;
    faultIds.push(faultId);
    const first = await startProxy({ pid: ns, faultId: `${faultId}-a`, map: [{ listenPort: 15001, targetPort: 80 }], latencyMs: 1, jitterMs: 0, deadline: null, script: proxy.script });
    faultIds.push(`${faultId}-a`);
    await expect(startProxy({ pid: ns, faultId, map: [{ listenPort: 15001, targetPort: 80 }], latencyMs: 1, jitterMs: 0, deadline: null, script: proxy.script })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/cannot listen on port 15001/),
    });
    expect(await findProxies(faultId)).toEqual([]);
    await stopProxy(first.proxyPid, `${faultId}-a`);
  });

  it('exits by itself 5 s after its deadline', async () => {
    const ns = await namespaceHolder();
    const faultId = `deadline-${process.pid}`;
    faultIds.push(faultId);
    const started = await startProxy({ pid: ns, faultId, map: [80], latencyMs: 1, jitterMs: 0, deadline: Date.now() - 4_000, script: proxy.script });
    expect(alive(started.proxyPid)).toBe(true);
    const until = Date.now() + 5_000;
    while ((await findProxies(faultId)).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(await findProxies(faultId)).toEqual([]);
  });

  it('fails clearly when the program is missing or the namespace does not exist', async () => {
    await expect(startProxy({ pid: 999_999_999, faultId: 'x', map: [80], latencyMs: 1, jitterMs: 0, deadline: null, script: proxy.script })).rejects.toMatchObject({ code: 'fault_failed' });
    await expect(startProxy({ pid: process.pid, faultId: 'x', map: [80], latencyMs: 1, jitterMs: 0, deadline: null, script: '/nonexistent/latency-proxy-main.js' })).rejects.toMatchObject({ code: 'fault_failed' });
  });
});
