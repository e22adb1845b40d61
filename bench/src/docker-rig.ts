/**
 * Real Docker for the container benchmarks: the local test image, containers labelled with this
 * run's tag (removed at the end), die events with the engine's own timestamps, and a real
 * controller and agent (processes from dist/).
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { sleep } from './proc.js';
import { startAgentProcess, startControllerProcess, type AgentProcess, type ControllerProcess } from './processes.js';

export const TEST_IMAGE = 'faultline-test/busybox:1';
export const BENCH_LABEL = 'faultline.bench';

/** Wall-clock epoch ms with sub-millisecond precision (the engine's event times are wall-clock too). */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export interface DockerRig {
  docker: Docker;
  tag: string;
  controller: ControllerProcess;
  agent: AgentProcess;
  /** Creates and starts a container of the test image with this run's label; returns its id. */
  container(name: string, options?: { publish?: number }): Promise<string>;
  /** Resolves with the engine's time (epoch ms) of the next `die` of `id` after now. */
  nextDie(id: string, timeoutMs?: number): Promise<number>;
  /** Starts `id` again and waits until it runs. */
  restart(id: string): Promise<void>;
  close(): Promise<void>;
}

interface DockerEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  Actor?: { ID?: string };
  timeNano?: number;
}

/** Starts a controller and an agent and subscribes to the engine's events. Fails loudly without Docker or the test image. */
export async function startDockerRig(): Promise<DockerRig> {
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(`the Docker engine does not answer (start it with scripts/ensure-docker.sh): ${String(error)}`);
  }
  try {
    await docker.getImage(TEST_IMAGE).inspect();
  } catch {
    throw new Error(`the test image ${TEST_IMAGE} is missing: run scripts/build-test-image.sh`);
  }
  const tag = `bench-${randomBytes(4).toString('hex')}`;
  const waiters = new Map<string, ((at: number) => void)[]>();
  const stream = (await docker.getEvents({ filters: JSON.stringify({ type: ['container'], event: ['die'], label: [`${BENCH_LABEL}=${tag}`] }) })) as unknown as Readable;
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (!line) continue;
      const event = JSON.parse(line) as DockerEvent;
      const id = event.Actor?.ID ?? event.id;
      if (!id || event.timeNano === undefined) continue;
      const at = event.timeNano / 1e6;
      for (const waiter of waiters.get(id)?.splice(0) ?? []) waiter(at);
    }
  });
  stream.on('error', () => undefined);
  const created: string[] = [];
  let controller: ControllerProcess | undefined;
  let agent: AgentProcess | undefined;
  const close = async (): Promise<void> => {
    stream.destroy();
    await agent?.stop().catch(() => undefined);
    await controller?.stop().catch(() => undefined);
    for (const id of created) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
  };
  try {
    controller = await startControllerProcess();
    agent = await startAgentProcess(controller, `bench-docker-${tag}`);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    docker,
    tag,
    controller,
    agent,
    async container(name, options = {}) {
      const publish = options.publish;
      const container = await docker.createContainer({
        Image: TEST_IMAGE,
        name: `faultline-${tag}-${name}`,
        Labels: { [BENCH_LABEL]: tag, 'faultline.bench.name': name },
        ...(publish === undefined
          ? {}
          : { ExposedPorts: { [`${publish}/tcp`]: {} }, HostConfig: { PortBindings: { [`${publish}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: '' }] } } }),
      });
      created.push(container.id);
      await container.start();
      return container.id;
    },
    nextDie(id, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`container ${id.slice(0, 12)} did not die within ${timeoutMs} ms`)), timeoutMs);
        const list = waiters.get(id) ?? [];
        list.push((at) => {
          clearTimeout(timer);
          resolve(at);
        });
        waiters.set(id, list);
      });
    },
    async restart(id) {
      const container = docker.getContainer(id);
      await container.start();
      for (let i = 0; i < 100; i += 1) {
        const info = await container.inspect();
        if (info.State.Running) return;
        await sleep(50);
      }
      throw new Error(`container ${id.slice(0, 12)} did not run again`);
    },
    close,
  };
}
