/**
 * Halt: `POST /api/v1/halt` until every agent confirmed its revert.
 *
 * The real controller (child process) and N real agents (this process, in-memory host adapters,
 * ledgers on tmpfs) each holding one sustained fault. Each trial: inject one fault per agent,
 * POST /halt, and take (a) when each agent finished reverting (its ledger entry removed; the
 * `reverted-all` reply leaves right after) and (b) when the HTTP answer, which lists every agent
 * that confirmed, arrived. Then POST /resume for the next trial. Side by side: the bare `ws`
 * broadcast-and-ack of the same N, measured in the same run (the nearest thing to an anchor:
 * vendors publish no halt figure).
 */
import { request } from 'node:http';
import { sleep } from '../proc.js';
import { ms, msRange, times, type Bench, type Row } from '../report.js';
import type { FanoutResult } from '../server-host.js';
import { median, pairedRatios, percentile, summarize } from '../stats.js';
import { profileLine, profiled, startPair } from '../servers.js';

/** A JSON request to the controller; resolves with status and parsed body. */
export function postJson<T>(url: string, token: string, body: unknown): Promise<{ status: number; body: T }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T });
          } catch {
            reject(new Error(`POST ${url} answered ${res.statusCode}: ${text}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

interface HaltAnswer {
  confirmed: string[];
  unconfirmed: { agent: string; error: string }[];
}

const GOAL_MS = 500;

export const haltBench: Bench = {
  name: 'halt',
  title: 'Halt: POST /halt until every agent confirmed its revert',
  docker: false,
  async run(context) {
    const sizes = context.agents ?? [1000];
    const trials = context.quick ? 6 : 20;
    const rows: Row[] = [];
    const notes: string[] = [];
    const data: Record<string, unknown> = { trials };
    for (const n of sizes) {
      context.log(`halt N=${n}: connecting ${n} agents and ${n} ws clients`);
      const pair = await startPair(n, `halt-${n}`);
      const { server, fleet, url, apiToken } = pair.faultline;
      const perAgentP50: number[] = [];
      const perAgentP99: number[] = [];
      const perAgentMax: number[] = [];
      const answers: number[] = [];
      const anchorTimes: number[] = [];
      const all: number[] = [];
      let unconfirmed = 0;
      let profiles: string[] = [];
      try {
        const halt = async (trial: number, measured: boolean): Promise<void> => {
          const injected = await server.call<{ injected: number; failed: number }>('inject-sustained', { trial });
          if (injected.injected !== n) throw new Error(`trial ${trial}: ${injected.injected} of ${n} faults injected (${injected.failed} failed)`);
          await sleep(200);
          fleet.reverted.clear();
          const started = performance.now();
          const answer = await postJson<HaltAnswer>(`${url}/api/v1/halt`, apiToken, { reason: `bench trial ${trial}` });
          const answeredMs = performance.now() - started;
          if (answer.status !== 200) throw new Error(`POST /halt answered ${answer.status}`);
          const reverts = [...fleet.reverted.values()].map((at) => at - started);
          const resumed = await postJson(`${url}/api/v1/resume`, apiToken, {});
          if (resumed.status !== 200) throw new Error(`POST /resume answered ${resumed.status}`);
          await sleep(200);
          if (answer.body.confirmed.length !== n || reverts.length !== n) {
            throw new Error(`trial ${trial}: ${answer.body.confirmed.length} agents confirmed and ${reverts.length} reverted, of ${n}`);
          }
          if (!measured) return;
          unconfirmed += answer.body.unconfirmed.length;
          answers.push(answeredMs);
          perAgentP50.push(percentile(reverts, 50));
          perAgentP99.push(percentile(reverts, 99));
          perAgentMax.push(Math.max(...reverts));
          all.push(...reverts);
        };
        const broadcast = async (trial: number, measured: boolean): Promise<void> => {
          const result = await pair.anchor.server.call<FanoutResult>('fanout', { trial });
          if (result.acksMs.length !== n) throw new Error(`anchor broadcast ${trial}: ${result.acksMs.length} acks of ${n}`);
          if (measured) anchorTimes.push(result.completionMs);
          await sleep(200);
        };
        for (let trial = 1; trial <= 2; trial += 1) {
          await broadcast(trial, false);
          await halt(trial, false);
        }
        for (let trial = 3; trial < trials + 3; trial += 1) {
          // Alternate which goes first, so neither always follows the other's garbage.
          if (trial % 2 === 0) await broadcast(trial, true);
          await halt(trial, true);
          if (trial % 2 === 1) await broadcast(trial, true);
        }
        context.log(`  p99 of reverts ${ms(median(perAgentP99))}, HTTP answer ${ms(median(answers))}, ws broadcast+ack ${ms(median(anchorTimes))}`);
        if (context.profile) {
          ({ profiles } = await profiled(context, server, `halt-${n}`, async () => {
            for (let trial = 0; trial < 5; trial += 1) await halt(1000 + trial, false);
          }));
        }
      } finally {
        await pair.close();
      }
      const p99 = summarize(perAgentP99);
      const answer = summarize(answers);
      const anchor = summarize(anchorTimes);
      const ratio = summarize(pairedRatios(answers, anchorTimes));
      rows.push({
        metric: `p99 of agents' confirmed reverts, N=${n.toLocaleString('en')}`,
        goal: n === 1000 ? `≤ ${GOAL_MS} ms` : '',
        measured: msRange(p99),
        sideBySide: `ws broadcast+ack ${msRange(anchor)}`,
        met: n === 1000 ? p99.median <= GOAL_MS : null,
      });
      rows.push({
        metric: `HTTP answer (all ${n.toLocaleString('en')} confirmed)`,
        goal: '',
        measured: msRange(answer),
        sideBySide: `${times(ratio.median)} (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}) the ws broadcast+ack`,
        met: null,
      });
      notes.push(
        `N=${n}: per-agent revert times from the POST, over ${trials} halts: p50 ${msRange(summarize(perAgentP50))}, ` +
          `p99 ${msRange(p99)}, max ${msRange(summarize(perAgentMax))}; pooled p99 ${ms(percentile(all, 99))}; unconfirmed agents: ${unconfirmed}.`,
      );
      for (const file of profiles) notes.push(`profile (halt, N=${n}, 5 halts with their injections): ${profileLine(file)}`);
      data[`n${n}`] = { answers, perAgentP50, perAgentP99, perAgentMax, anchorTimes, unconfirmed };
    }
    return { name: 'halt', title: this.title, rows, notes, data };
  },
};
