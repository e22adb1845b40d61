/** The controller's agent endpoint over a real in-process WebSocket: auth, hello, invalid frames. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AGENT_WS_PATH, PROTOCOL_VERSION } from '@faultline/shared';
import { createController, type Controller } from '../src/app.js';

let controller: Controller;
let url: string;
let dataDir: string;

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'faultline-hub-'));
  controller = await createController({ port: 0, dataDir, apiToken: 'api', agentToken: 'agent', logger: pino({ level: 'silent' }) });
  url = (await controller.listen()).replace('http', 'ws') + AGENT_WS_PATH;
});

afterEach(async () => {
  await controller.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const hello = {
  type: 'hello',
  protocolVersion: PROTOCOL_VERSION,
  name: 'unit-agent',
  labels: {},
  version: 'test',
  capabilities: { faults: ['container-kill'], latencyMechanisms: [] },
  leaseTimeoutMs: 15000,
  activeFaults: [],
};

function connect(token: string): Promise<{ ws: WebSocket; frames: unknown[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    const frames: unknown[] = [];
    ws.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString('utf8'))));
    ws.once('open', () => resolve({ ws, frames }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

async function until(fn: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !fn(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(fn()).toBe(true);
}

describe('agent hub', () => {
  it('refuses a wrong agent token with 401 and lists nothing', async () => {
    await expect(connect('wrong')).rejects.toThrow(/401/);
    expect(controller.hub.agents()).toEqual([]);
  });

  it('answers invalid frames with an error and keeps the connection and the controller working', async () => {
    const { ws, frames } = await connect('agent');
    ws.send('{not json');
    ws.send(JSON.stringify({ type: 'containers', id: 'x' }));
    ws.send(JSON.stringify({ type: 'pong', ts: 1 }));
    await until(() => frames.length >= 3);
    expect(frames.every((f) => (f as { type: string }).type === 'error')).toBe(true);
    expect((frames[0] as { error: { code: string } }).error.code).toBe('invalid_frame');
    expect((frames[2] as { error: { message: string } }).error.message).toMatch(/first frame must be hello/);

    ws.send(JSON.stringify(hello));
    await until(() => frames.some((f) => (f as { type: string }).type === 'welcome'));
    expect(controller.hub.agents().map((a) => [a.name, a.connected])).toEqual([['unit-agent', true]]);
    ws.send(JSON.stringify(hello));
    await until(() => frames.filter((f) => (f as { type: string }).type === 'error').length >= 4);
    const health = await controller.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    ws.close();
    await until(() => controller.hub.agents()[0]?.connected === false);
  });

  it('refuses another protocol version', async () => {
    const { ws, frames } = await connect('agent');
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(JSON.stringify({ ...hello, protocolVersion: 99 }));
    expect(await closed).toBe(4001);
    expect((frames[0] as { error: { code: string } }).error.code).toBe('protocol_version');
  });
});
