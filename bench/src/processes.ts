/** The real programs, `faultline controller` and `faultline-agent`, started from the built dist/ files. */
import { createServer } from 'node:net';
import { AGENT_MAIN, CONTROLLER_MAIN, sleep, spawnChild, tempDir, type Child } from './proc.js';

export const API_TOKEN = 'bench-api-token';
export const AGENT_TOKEN = 'bench-agent-token';

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A REST call to the controller with the API token; the body is JSON (or text for YAML). */
export async function api<T = unknown>(url: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: T }> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${API_TOKEN}` } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { ...init.headers, 'content-type': contentType };
  }
  const response = await fetch(`${url}${path}`, init);
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, body: parsed as T };
}

export interface ControllerProcess {
  url: string;
  child: Child;
  stop(): Promise<void>;
}

/** Starts `faultline controller` on a free loopback port with a fresh data directory. */
export async function startControllerProcess(logLevel = 'info'): Promise<ControllerProcess> {
  const data = tempDir('controller');
  const port = await freePort();
  const child = spawnChild(
    process.execPath,
    [CONTROLLER_MAIN, 'controller', '--listen', `127.0.0.1:${port}`, '--data', data.path, '--api-token', API_TOKEN, '--agent-token', AGENT_TOKEN, '--log-level', logLevel],
    { name: 'faultline controller' },
  );
  try {
    await child.waitForLine(/controller listening/, 30_000);
  } catch (error) {
    await child.stop();
    data.dispose();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    async stop() {
      await child.stop();
      data.dispose();
    },
  };
}

export interface AgentProcess {
  name: string;
  child: Child;
  stop(): Promise<void>;
}

/** Starts `faultline-agent` (real Docker) and waits until the controller lists it connected. */
export async function startAgentProcess(controller: ControllerProcess, name: string): Promise<AgentProcess> {
  const state = tempDir('agent');
  const child = spawnChild(process.execPath, [AGENT_MAIN, '--controller', controller.url, '--token', AGENT_TOKEN, '--name', name, '--state-dir', state.path], {
    name: `faultline-agent ${name}`,
  });
  const stop = async (): Promise<void> => {
    await child.stop(15_000);
    state.dispose();
  };
  try {
    const until = Date.now() + 30_000;
    for (;;) {
      const agents = await api<{ name: string; connected: boolean }[]>(controller.url, 'GET', '/api/v1/agents');
      if (Array.isArray(agents.body) && agents.body.some((agent) => agent.name === name && agent.connected)) break;
      if (Date.now() > until) throw new Error(`agent ${name} did not connect:\n${child.tail()}`);
      await sleep(200);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { name, child, stop };
}
