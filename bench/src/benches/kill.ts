/**
 * Container kill through Faultline vs a direct Docker API kill, side by side.
 *
 * A real controller and a real agent (processes from dist/) on the real Docker engine; one busybox
 * container of the test image. Faultline: `POST /api/v1/experiments/<kill>/runs` (a container-kill
 * experiment targeting that container by label; the run resolves targets, asks the agent, which
 * inspects and kills through the Docker API). Direct: dockerode `container.kill({signal: 'SIGKILL'})`
 * from this process. Both end at the engine's `die` event for the container (its own timestamp);
 * both start on the wall clock right before the request. Trials alternate; the container is started
 * again between trials.
 */
import { startDockerRig, wallNow } from '../docker-rig.js';
import { sleep } from '../proc.js';
import { api } from '../processes.js';
import { ms, msRange, type Bench, type Row } from '../report.js';
import { median, pairedDifferences, summarize } from '../stats.js';

const GOAL_MARGIN_MS = 25;

export const killBench: Bench = {
  name: 'kill',
  title: 'Container kill through Faultline vs direct Docker API kill',
  docker: true,
  async run(context) {
    const trials = context.quick ? 6 : 20;
    const rig = await startDockerRig();
    try {
      const id = await rig.container('kill');
      const experiment = {
        apiVersion: 'faultline/v1',
        kind: 'Experiment',
        metadata: { name: 'bench-kill', description: 'pnpm bench: container kill latency' },
        spec: {
          targets: { box: { containers: { labels: { 'faultline.bench': rig.tag, 'faultline.bench.name': 'kill' } }, select: { mode: 'all' } } },
          method: [{ fault: 'container-kill', target: 'box', params: { signal: 'SIGKILL' } }],
          safety: { maxTargets: 1, timeout: '1m' },
        },
      };
      const put = await api(rig.controller.url, 'PUT', '/api/v1/experiments/bench-kill', experiment);
      if (put.status !== 200 && put.status !== 201) throw new Error(`PUT experiment answered ${put.status}: ${JSON.stringify(put.body)}`);

      const viaFaultline = async (): Promise<number> => {
        const died = rig.nextDie(id);
        const started = wallNow();
        const run = await api<{ id: string }>(rig.controller.url, 'POST', '/api/v1/experiments/bench-kill/runs', {});
        if (run.status !== 202) throw new Error(`POST runs answered ${run.status}: ${JSON.stringify(run.body)}`);
        const at = await died;
        // Wait for the run to end before the next trial.
        for (let i = 0; i < 200; i += 1) {
          const journal = await api<{ status: string; reason: string | null }>(rig.controller.url, 'GET', `/api/v1/runs/${run.body.id}`);
          if (['completed', 'deviated', 'aborted', 'failed'].includes(journal.body.status)) {
            if (journal.body.status !== 'completed') throw new Error(`the kill run ended ${journal.body.status}: ${journal.body.reason}`);
            break;
          }
          await sleep(50);
        }
        return at - started;
      };
      const direct = async (): Promise<number> => {
        const died = rig.nextDie(id);
        const started = wallNow();
        await rig.docker.getContainer(id).kill({ signal: 'SIGKILL' });
        return (await died) - started;
      };

      const samples = { faultline: [] as number[], direct: [] as number[] };
      for (let trial = -1; trial < trials; trial += 1) {
        const order = trial % 2 === 0 ? (['direct', 'faultline'] as const) : (['faultline', 'direct'] as const);
        for (const kind of order) {
          await sleep(300);
          const took = kind === 'faultline' ? await viaFaultline() : await direct();
          await rig.restart(id);
          if (trial >= 0) samples[kind].push(took);
        }
        if (trial >= 0) context.log(`  trial ${trial + 1}/${trials}: Faultline ${ms(samples.faultline.at(-1) ?? 0)}, direct ${ms(samples.direct.at(-1) ?? 0)}`);
      }
      const faultline = summarize(samples.faultline);
      const directSummary = summarize(samples.direct);
      const extra = summarize(pairedDifferences(samples.faultline, samples.direct));
      const rows: Row[] = [
        {
          metric: 'REST trigger → container exited, p50',
          goal: `≤ direct + ${GOAL_MARGIN_MS} ms`,
          measured: `${ms(faultline.median)} (p50 over ${trials}; ${ms(faultline.min)}–${ms(faultline.max)})`,
          sideBySide: `direct kill ${ms(directSummary.median)} (${ms(directSummary.min)}–${ms(directSummary.max)})`,
          met: faultline.median <= directSummary.median + GOAL_MARGIN_MS,
        },
        {
          metric: 'Faultline − direct, per trial pair',
          goal: `≤ ${GOAL_MARGIN_MS} ms`,
          measured: msRange(extra),
          sideBySide: `difference of p50s ${ms(faultline.median - directSummary.median)}`,
          met: null,
        },
      ];
      return {
        name: 'kill',
        title: this.title,
        rows,
        notes: [
          `Ends at the engine's die event time (timeNano); starts right before the POST (Faultline) or the kill call (direct). ` +
            `The Faultline path includes the run's creation and journal writes (SQLite), target resolution (list-containers on the agent, one Docker list), ` +
            `the inject order, the agent's inspect and kill. Median direct: ${ms(median(samples.direct))}.`,
        ],
        data: { trials, samples },
      };
    } finally {
      await rig.close();
    }
  },
};
