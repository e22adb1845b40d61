import type { RunJournal } from '@faultline/shared';
import { REPORT_FORMATS, renderReport, type ReportFormat } from '../reports/index.js';
import { remoteVerb } from './client.js';
import { gameDayReport, isGameDayRunId } from './gameday-report.js';
import { EXIT_OK, stringOption, usageError, type CliIo, type VerbSpec } from './io.js';

export const reportSpec: VerbSpec = {
  name: 'report',
  usage: 'ID|GAMEDAY-RUN-ID [--format md|html|json]',
  summary: 'print a run report: verdict, targets, faults, steady-state probes, timeline',
  options: { format: { type: 'string', short: 'f', value: 'FORMAT', description: 'md (default), html or json (the journal)' } },
  remote: true,
  positionals: { min: 1, max: 1 },
};

/** `faultline report ID` */
export async function reportCommand(argv: string[], io: CliIo): Promise<number> {
  return remoteVerb(reportSpec, argv, io, async (client, args) => {
    const format = (stringOption(args, 'format') ?? 'md') as ReportFormat;
    if (!REPORT_FORMATS.includes(format)) return usageError(reportSpec, io, `--format must be one of ${REPORT_FORMATS.join(', ')}`);
    if (isGameDayRunId(args.positionals[0] ?? '')) {
      io.stdout.write(await gameDayReport(client, args.positionals[0] ?? '', format));
      return EXIT_OK;
    }
    const journal = await client.get<RunJournal>(`/api/v1/runs/${encodeURIComponent(args.positionals[0] ?? '')}`);
    io.stdout.write(renderReport(journal, format));
    return EXIT_OK;
  });
}
