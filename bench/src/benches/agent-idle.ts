/**
 * Agent idle footprint: RSS and CPU of a real `faultline-agent` process (real Docker engine)
 * connected to a real `faultline controller`, idle, sampled from /proc over windows. Side by side, in
 * the same windows: a bare Node process holding one `ws` connection that answers pings every 2 s
 * (the controller's heartbeat), the floor of any Node agent.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { benchProgram, clockTicksPerSecond, cpuSeconds, rssBytes, sleep, spawnChild } from '../proc.js';
import { startAgentProcess, startControllerProcess } from '../processes.js';
import { times, type Bench, type Row } from '../report.js';
import { summarize } from '../stats.js';

const MIB = 1024 * 1024;
const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;
const pct = (value: number): string => `${value.toFixed(3)}%`;

/** A ws server that pings every client every 2 s, like the controller. */
async function pingServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const timer = setInterval(() => {
    for (const ws of wss.clients) ws.send(JSON.stringify({ type: 'ping', ts: Date.now() }));
  }, 2000);
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
    close: async () => {
      clearInterval(timer);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await new Promise<void>((done) => http.close(() => done()));
    },
  };
}

export const agentIdleBench: Bench = {
  name: 'agent-idle',
  title: 'Agent idle footprint (real faultline-agent, real Docker)',
  docker: true,
  async run(context) {
    const windows = context.quick ? 3 : 4;
    const windowMs = context.quick ? 5000 : 15_000;
    const warmupMs = context.quick ? 8000 : 15_000;
    const controller = await startControllerProcess();
    const floorServer = await pingServer();
    const stops: (() => Promise<void>)[] = [() => controller.stop(), () => floorServer.close()];
    try {
      const agent = await startAgentProcess(controller, 'bench-idle');
      stops.unshift(() => agent.stop());
      const floor = spawnChild(process.execPath, [benchProgram('idle-baseline'), floorServer.url], { name: 'idle-baseline' });
      stops.unshift(() => floor.stop());
      await floor.waitForLine(/CONNECTED/);
      context.log(`agent-idle: warm-up ${warmupMs / 1000} s, then ${windows} windows of ${windowMs / 1000} s`);
      await sleep(warmupMs);
      const pids = { agent: agent.child.pid, floor: floor.pid };
      const rss: Record<keyof typeof pids, number[]> = { agent: [], floor: [] };
      const cpu: Record<keyof typeof pids, number[]> = { agent: [], floor: [] };
      const total0 = { agent: cpuSeconds(pids.agent), floor: cpuSeconds(pids.floor), at: performance.now() };
      for (let window = 0; window < windows; window += 1) {
        const began = performance.now();
        const cpu0 = { agent: cpuSeconds(pids.agent), floor: cpuSeconds(pids.floor) };
        while (performance.now() - began < windowMs) {
          await sleep(1000);
          rss.agent.push(rssBytes(pids.agent));
          rss.floor.push(rssBytes(pids.floor));
        }
        const seconds = (performance.now() - began) / 1000;
        cpu.agent.push(((cpuSeconds(pids.agent) - cpu0.agent) / seconds) * 100);
        cpu.floor.push(((cpuSeconds(pids.floor) - cpu0.floor) / seconds) * 100);
        context.log(`  window ${window + 1}: agent ${mib(rss.agent.at(-1) ?? 0)}, ${pct(cpu.agent.at(-1) ?? 0)} CPU; floor ${mib(rss.floor.at(-1) ?? 0)}, ${pct(cpu.floor.at(-1) ?? 0)} CPU`);
      }
      const elapsed = (performance.now() - total0.at) / 1000;
      const overall = {
        agent: ((cpuSeconds(pids.agent) - total0.agent) / elapsed) * 100,
        floor: ((cpuSeconds(pids.floor) - total0.floor) / elapsed) * 100,
      };
      const agentRss = summarize(rss.agent);
      const floorRss = summarize(rss.floor);
      const agentCpu = summarize(cpu.agent);
      const floorCpu = summarize(cpu.floor);
      const rows: Row[] = [
        {
          metric: `RSS, idle ${((windows * windowMs) / 1000).toFixed(0)} s`,
          goal: '≤ 60 MiB (Gremlin agent ~17 MiB)',
          measured: `${mib(agentRss.median)} (${(agentRss.min / MIB).toFixed(1)}–${mib(agentRss.max)})`,
          sideBySide: `bare Node+ws ${mib(floorRss.median)}; ${times(agentRss.median / floorRss.median)}`,
          met: agentRss.median <= 60 * MIB,
        },
        {
          metric: `CPU, idle ${elapsed.toFixed(0)} s (windows of ${windowMs / 1000} s)`,
          goal: '≤ 0.2% (Gremlin < 0.1%)',
          measured: `${pct(overall.agent)} (windows ${agentCpu.min.toFixed(3)}–${pct(agentCpu.max)})`,
          sideBySide: `bare Node+ws ${pct(overall.floor)} (windows ${floorCpu.min.toFixed(3)}–${pct(floorCpu.max)})`,
          met: overall.agent <= 0.2,
        },
      ];
      return {
        name: 'agent-idle',
        title: this.title,
        rows,
        notes: [
          `CPU from /proc/<pid>/stat (utime+stime, ${Math.round(1000 / clockTicksPerSecond())} ms ticks) over each window; RSS (VmRSS) sampled every second. ` +
            `The agent runs as in production: info logs to a pipe, lease 15 s, the controller pinging every 2 s; measured after a ${warmupMs / 1000} s warm-up. ` +
            `Headline CPU is over the whole idle period; one ${Math.round(1000 / clockTicksPerSecond())} ms tick in a ${windowMs / 1000} s window is ${((100_000 / windowMs) / clockTicksPerSecond()).toFixed(3)}%.`,
        ],
        data: { windows, windowMs, warmupMs, rss, cpu, overall },
      };
    } finally {
      for (const stop of stops) await stop().catch(() => undefined);
    }
  },
};
