import { remoteVerb } from './client.js';
import { EXIT_OK, stringOption, type CliIo, type VerbSpec } from './io.js';

export const abortSpec: VerbSpec = {
  name: 'abort',
  usage: 'ID [--reason TEXT]',
  summary: 'abort a run; its faults are reverted',
  options: { reason: { type: 'string', value: 'TEXT', description: 'why, recorded in the journal' } },
  remote: true,
  positionals: { min: 1, max: 1 },
};

/** `faultline abort ID` */
export async function abortCommand(argv: string[], io: CliIo): Promise<number> {
  return remoteVerb(abortSpec, argv, io, async (client, args) => {
    const id = args.positionals[0] ?? '';
    const reason = stringOption(args, 'reason');
    await client.post(`/api/v1/runs/${encodeURIComponent(id)}/abort`, reason === undefined ? {} : { reason });
    io.stdout.write(`abort requested for run ${id}; its faults are being reverted\n`);
    return EXIT_OK;
  });
}
