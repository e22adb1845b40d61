import type { RunJournal, RunStatus, RunSummary } from '@faultline/shared';
import { RUN_STATUSES } from '@faultline/shared';
import { remoteVerb } from './client.js';
import { dateTime, journalSummary, runDuration, table, truncate } from './format.js';
import { EXIT_OK, flagOption, stringOption, usageError, type CliIo, type VerbSpec } from './io.js';

export const runsSpec: VerbSpec = {
  name: 'runs',
  usage: '[ID] [--experiment NAME] [--status STATUS] [--limit N] [--json]',
  summary: 'list runs, newest first, or show one run',
  options: {
    experiment: { type: 'string', value: 'NAME', description: 'only runs of this experiment' },
    status: { type: 'string', value: 'STATUS', description: `only runs in this status: ${RUN_STATUSES.join(', ')}` },
    limit: { type: 'string', value: 'N', description: 'at most N runs (1-1000), default 50' },
    json: { type: 'boolean', description: 'print JSON (the list, or the whole journal)' },
  },
  remote: true,
  positionals: { min: 0, max: 1 },
};

/** `faultline runs [ID]` */
export async function runsCommand(argv: string[], io: CliIo): Promise<number> {
  return remoteVerb(runsSpec, argv, io, async (client, args) => {
    const json = flagOption(args, 'json');
    const id = args.positionals[0];
    if (id !== undefined) {
      const journal = await client.get<RunJournal>(`/api/v1/runs/${encodeURIComponent(id)}`);
      io.stdout.write(json ? `${JSON.stringify(journal, null, 2)}\n` : journalSummary(journal));
      return EXIT_OK;
    }
    const status = stringOption(args, 'status');
    if (status !== undefined && !RUN_STATUSES.includes(status as RunStatus)) {
      return usageError(runsSpec, io, `--status must be one of ${RUN_STATUSES.join(', ')}`);
    }
    const limitText = stringOption(args, 'limit');
    const limit = limitText === undefined ? undefined : Number(limitText);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) {
      return usageError(runsSpec, io, '--limit must be a whole number from 1 to 1000');
    }
    const runs = await client.get<RunSummary[]>('/api/v1/runs', {
      query: { experiment: stringOption(args, 'experiment'), status, limit },
    });
    if (json) {
      io.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
      return EXIT_OK;
    }
    io.stdout.write(runsTable(runs));
    return EXIT_OK;
  });
}

/** The `runs` table: id, experiment, status, started, duration, reason. */
export function runsTable(runs: RunSummary[], now = Date.now()): string {
  if (runs.length === 0) return 'no runs\n';
  return table(
    ['id', 'experiment', 'status', 'started', 'duration', 'reason'],
    runs.map((run) => [
      run.id,
      run.experiment,
      `${run.status}${run.dryRun ? ' (dry)' : ''}`,
      run.startedAt === null ? '-' : dateTime(run.startedAt),
      runDuration(run, now),
      truncate(run.reason ?? '', 80),
    ]),
  );
}
