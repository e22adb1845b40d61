import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { FaultContext, FaultOrder } from '../../src/faults/types.js';
import { findProxies, stopProxy } from '../../src/host/latency-proxy.js';
import { makeContext } from './context.js';
import { ensureTestImage, iptablesSaveIn, startTestContainer, type TestContainer } from './docker.js';
import { buildProxyScript } from './proxy-script.js';

/** What a real-Docker fault suite gets from {@link useDockerFaultSuite}; read its fields inside tests and hooks. */
export interface DockerFaultSuite {
  /** The fault context against the real Docker engine. */
  readonly ctx: FaultContext;
  /** The Docker client. */
  readonly docker: Docker;
  /** The latency proxy script (with `proxy: true`; `/nonexistent` otherwise). */
  readonly proxyScript: string;
  /** Starts a test container, removed after the test. */
  container(options?: { labels?: Record<string, string> }): Promise<TestContainer>;
  /** Removes `c` after the test (for a container made another way). */
  adopt(c: TestContainer): void;
  /** Stops any latency proxy of this fault after the test. */
  track(faultId: string): void;
  /** The host pid of the container's init now. */
  pidOf(c: TestContainer): Promise<number>;
  /** Asserts the fault left no ledger entry and, when `c` is given, no Faultline rule in its namespace. */
  expectNoFilterRules(c: TestContainer | null, faultId: string): Promise<void>;
}

/** An order of a 60 s `type` fault on `c`, with a fresh fault id starting with `idPrefix`. */
export function testOrder(c: TestContainer, type: string, params: Record<string, unknown>, idPrefix: string): FaultOrder {
  return {
    faultId: `${idPrefix}-${randomBytes(6).toString('hex')}`,
    runId: 'run-test',
    type,
    params,
    target: { containerId: c.id, containerName: c.name },
    durationMs: 60_000,
  };
}

/**
 * Registers the set-up every real-Docker fault suite shares: the test image and a throw-away fault
 * context before all tests (with the transpiled latency proxy when `proxy` is true), and after each
 * test the proxies of tracked faults stopped and the containers removed, whatever happened. Call it
 * at the top of a `describe` block.
 */
export function useDockerFaultSuite(options: { proxy?: boolean } = {}): DockerFaultSuite {
  let proxy: ReturnType<typeof buildProxyScript> | undefined;
  let env: ReturnType<typeof makeContext> | undefined;
  const containers: TestContainer[] = [];
  const faultIds: string[] = [];
  const ready = (): ReturnType<typeof makeContext> => {
    if (!env) throw new Error('useDockerFaultSuite: read the suite inside tests and hooks, after its beforeAll');
    return env;
  };
  const pidOf = async (c: TestContainer): Promise<number> => (await ready().ctx.docker.inspect(c.id)).pid;

  beforeAll(async () => {
    await ensureTestImage();
    if (options.proxy) proxy = buildProxyScript();
    env = makeContext({ latencyProxyScript: proxy?.script ?? '/nonexistent' });
  }, 120_000);

  afterEach(async () => {
    for (const faultId of faultIds.splice(0)) {
      for (const p of await findProxies(faultId)) await stopProxy(p.pid, faultId).catch(() => undefined);
    }
    for (const c of containers.splice(0)) await c.remove();
  });

  afterAll(() => {
    proxy?.dispose();
    env?.dispose();
  });

  return {
    get ctx() {
      return ready().ctx;
    },
    get docker() {
      return ready().docker;
    },
    get proxyScript() {
      ready();
      return proxy?.script ?? '/nonexistent';
    },
    async container(containerOptions) {
      const c = await startTestContainer(ready().docker, containerOptions?.labels ? { labels: containerOptions.labels } : {});
      containers.push(c);
      return c;
    },
    adopt(c) {
      containers.push(c);
    },
    track(faultId) {
      faultIds.push(faultId);
    },
    pidOf,
    async expectNoFilterRules(c, faultId) {
      expect(await ready().ctx.ledger.get(faultId)).toBeUndefined();
      if (c) {
        const saved = await iptablesSaveIn(await pidOf(c));
        expect(saved).not.toMatch(/FL-[0-9a-f]{12}/);
        expect(saved).not.toContain('faultline:');
      }
    },
  };
}
