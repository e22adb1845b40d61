/** The server processes of the fan-out, halt and memory benchmarks (server-host.ts), and profiling around measured work. */
import { mkdirSync } from 'node:fs';
import { summarizeProfileFile } from './profile-summary.js';
import { startProfiling, stopProfiling } from './profiler.js';
import { startAgentFleet, startAnchorFleet, startThinFleet, type AgentFleet, type AnchorFleet } from './fleet.js';
import { forkRpc, sleep, type RpcChild } from './proc.js';
import type { BenchContext } from './report.js';

/** Forks server-host.js (a controller or the bare ws anchor, chosen by the first call). */
export async function startServer(name: string, nodeFlags: string[] = []): Promise<RpcChild> {
  return forkRpc('server-host', { name, execArgv: ['--expose-gc', ...nodeFlags] });
}

/** Profiles the server and this process (the fleet) around `work` when --profile is given; returns the summaries. */
export async function profiled<T>(context: BenchContext, server: RpcChild, name: string, work: () => Promise<T>): Promise<{ result: T; profiles: string[] }> {
  if (!context.profile) return { result: await work(), profiles: [] };
  const dir = `${context.outDir}/profiles`;
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const files = [`${dir}/${name}-server-${stamp}.cpuprofile`, `${dir}/${name}-fleet-${stamp}.cpuprofile`];
  await server.call('profile-start');
  await startProfiling();
  try {
    return { result: await work(), profiles: files };
  } finally {
    await stopProfiling(files[1]!);
    await server.call('profile-stop', { file: files[0] });
  }
}

/** The top modules of a profile, one line. */
export function profileLine(file: string): string {
  const summary = summarizeProfileFile(file, 6);
  return `${file.split('/').pop() ?? file}: ${summary.modules.map((entry) => `${entry.module} ${entry.percent}%`).join(', ')}`;
}

/** A bare ws server with its clients, and a real controller with its agents, both connected at once for interleaved trials. */
export interface Pair {
  anchor: { server: RpcChild; fleet: AnchorFleet };
  faultline: { server: RpcChild; fleet: AgentFleet; url: string; apiToken: string };
  /** With `thin`: another real controller whose agents are thin protocol stubs (see startThinFleet). */
  thin?: { server: RpcChild; fleet: AnchorFleet };
  close(): Promise<void>;
}

/** Starts the anchor (server + N clients) and Faultline (controller + N agents); waits for a heartbeat round. */
export async function startPair(n: number, name: string, options: { thin?: boolean } = {}): Promise<Pair> {
  const stops: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const anchorServer = await startServer(`${name}-anchor`);
    stops.push(() => anchorServer.stop());
    stops.push(() => anchorServer.call('stop'));
    const { url: anchorUrl } = await anchorServer.call<{ url: string }>('start-anchor');
    const anchorFleet = await startAnchorFleet({ url: anchorUrl, count: n, connected: () => anchorServer.call<number>('connected') });
    stops.push(() => anchorFleet.close());
    const server = await startServer(`${name}-controller`);
    stops.push(() => server.stop());
    stops.push(() => server.call('stop'));
    const { url, apiToken, agentToken } = await server.call<{ url: string; apiToken: string; agentToken: string }>('start-controller');
    const fleet = await startAgentFleet({ url, token: agentToken, count: n, connected: () => server.call<number>('connected') });
    stops.push(() => fleet.close());
    let thin: Pair['thin'];
    if (options.thin) {
      const thinServer = await startServer(`${name}-thin`);
      stops.push(() => thinServer.stop());
      stops.push(() => thinServer.call('stop'));
      const started = await thinServer.call<{ url: string; agentToken: string }>('start-controller');
      const thinFleet = await startThinFleet({ url: started.url, token: started.agentToken, count: n, connected: () => thinServer.call<number>('connected') });
      stops.push(() => thinFleet.close());
      thin = { server: thinServer, fleet: thinFleet };
    }
    // Let the first heartbeat round pass: commands go out amid the controller's usual pings.
    await sleep(2500);
    return { anchor: { server: anchorServer, fleet: anchorFleet }, faultline: { server, fleet, url, apiToken }, ...(thin ? { thin } : {}), close };
  } catch (error) {
    await close();
    throw error;
  }
}
