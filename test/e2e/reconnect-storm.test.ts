/**
 * Reconnect storm (issue 6 item 2): 500 agent connections — the agent's real ControllerConnection
 * (packages/agent/dist/connection.js: WebSocket, hello, exponential backoff with full jitter), all in
 * this test process — against a real controller process that is killed with -9 and started again.
 * Every connection must come back, the controller must stay up and answer, and the time until all
 * 500 are registered again is measured over a few trials.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ControllerConnection, type ConnectionOptions } from '../../packages/agent/dist/connection.js';
import { launchController, listAgents, type ControllerProc } from './fixtures/hardening.js';
import { percentile, waitFor } from './fixtures/http.js';

const AGENTS = 500;
const TRIALS = 3;

/** A logger with the part of pino's interface the connection uses; counts warnings and errors. */
function quietLogger(counts: { warn: number; error: number }): ConnectionOptions['log'] {
  const noop = (): void => undefined;
  const logger = {
    trace: noop,
    debug: noop,
    info: noop,
    warn: () => {
      counts.warn += 1;
    },
    error: () => {
      counts.error += 1;
    },
    fatal: noop,
    child: () => logger,
  };
  return logger as unknown as ConnectionOptions['log'];
}

async function connectedCount(controller: ControllerProc): Promise<number> {
  return (await listAgents(controller)).filter((agent) => agent.connected && agent.name.startsWith('storm-')).length;
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

describe('reconnect storm (real controller process, 500 real agent connections)', () => {
  it('500 connections dropped at once by a controller kill -9 all register again, with jittered backoff, and the controller keeps answering', async () => {
    await using controller = await launchController();
    const counts = { warn: 0, error: 0 };
    const log = quietLogger(counts);
    const readyAt = new Array<number>(AGENTS).fill(0);
    const connections = Array.from({ length: AGENTS }, (_, i) => {
      const name = `storm-${String(i).padStart(3, '0')}`;
      return new ControllerConnection({
        controllerUrl: controller.url,
        token: controller.agentToken,
        log,
        handler: {
          listContainers: () => Promise.resolve([]),
          inject: () => Promise.reject(new Error('not in this test')),
          revert: () => Promise.reject(new Error('not in this test')),
          revertAll: () => Promise.resolve({ reverted: [], failed: [] }),
        },
        hello: () => ({ name, labels: { storm: 'yes' }, version: 'storm', capabilities: { faults: [], latencyMechanisms: [] }, leaseTimeoutMs: 60_000, activeFaults: [] }),
        leaseTimeoutMs: 60_000,
        onLeaseExpired: () => undefined,
        onStateChange: (state) => {
          if (state === 'ready') readyAt[i] = Date.now();
        },
      });
    });
    try {
      const startedAt = Date.now();
      for (const connection of connections) connection.start();
      await waitFor(async () => (await connectedCount(controller)) === AGENTS, { timeoutMs: 30_000, intervalMs: 100, message: `${AGENTS} agents to register` });
      process.stdout.write(`storm: ${AGENTS} connections registered from cold in ${Date.now() - startedAt}ms\n`);

      const recoveries: number[] = [];
      const spreads: string[] = [];
      let worstHealthMs = 0;
      for (let trial = 0; trial < TRIALS; trial++) {
        // The agents reset their backoff only after a connection that lasted 5 s: give every trial the same start.
        const lastReady = Math.max(...readyAt);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastReady + 5200 - Date.now())));
        readyAt.fill(0);
        controller.process.kill('SIGKILL');
        await controller.process.exited;
        const killedAt = Date.now();
        await controller.restart();
        const listeningAt = Date.now();
        // Health during the storm: the controller answers while 500 agents pile in.
        let stormOver = false;
        const health = (async () => {
          while (!stormOver) {
            const started = performance.now();
            const response = await controller.api('GET', '/healthz', undefined, { token: null, timeoutMs: 10_000 });
            expect(response.status).toBe(200);
            worstHealthMs = Math.max(worstHealthMs, performance.now() - started);
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        })();
        await waitFor(() => readyAt.every((at) => at > 0), { timeoutMs: 30_000, intervalMs: 20, message: `all ${AGENTS} connections to be welcomed again` });
        stormOver = true;
        await health;
        const allAt = Math.max(...readyAt);
        expect(await connectedCount(controller)).toBe(AGENTS);
        const offsets = readyAt.map((at) => at - listeningAt).sort((a, b) => a - b);
        recoveries.push(allAt - killedAt);
        spreads.push(`p50 ${percentile(offsets, 50)}ms, p95 ${percentile(offsets, 95)}ms, last ${offsets.at(-1)}ms after listening (restart took ${listeningAt - killedAt}ms)`);
        process.stdout.write(`storm trial ${trial + 1}: kill -9 -> all ${AGENTS} registered again in ${allAt - killedAt}ms; ${spreads.at(-1)}\n`);
        // Jitter: the reconnections are spread out, not a thundering herd in one instant.
        expect(percentile(offsets, 95) - percentile(offsets, 5)).toBeGreaterThan(100);
      }
      const sorted = [...recoveries].sort((a, b) => a - b);
      const rss = await rssMiB(controller.process.pid);
      process.stdout.write(
        `storm: recovery over ${TRIALS} trials min ${sorted[0]}ms, median ${percentile(sorted, 50)}ms, max ${sorted.at(-1)}ms; ` +
          `worst /healthz during the storms ${worstHealthMs.toFixed(0)}ms; controller RSS ${rss.toFixed(0)} MiB; ` +
          `client log warnings ${counts.warn}, errors ${counts.error}\n`,
      );
      // Backoff ceilings after a ~1 s outage are at most a few seconds (250 ms doubling, full jitter, 10 s cap):
      // 20 s leaves room for a loaded 2-core host starting the controller.
      expect(sorted.at(-1)).toBeLessThan(20_000);
      expect(worstHealthMs).toBeLessThan(2000);
      expect(counts.error).toBe(0);
      expect(controller.process.exitStatus).toBeUndefined();
      expect(controller.logs().filter((line) => /"level":(50|60)/.test(line))).toEqual([]);
    } finally {
      await Promise.all(connections.map((connection) => connection.stop()));
    }
  });
});
