import { stat } from 'node:fs/promises';
import { isFinalStatus, type RunJournal, type RunSummary, type TimelineEvent } from '@faultline/shared';
import { ApiClient, ApiError, printError, remoteVerb, UnreachableError } from './client.js';
import { journalSummary, timelineLine } from './format.js';
import {
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  flagOption,
  type CliIo,
  type VerbSpec,
} from './io.js';
import { SseParser } from './sse.js';
import { checkManifestFile, resolvePath } from './validate.js';

export const runSpec: VerbSpec = {
  name: 'run',
  usage: 'NAME|FILE [--dry-run] [--detach] [--json]',
  summary: 'start a run of an experiment and follow it; exit 0 only if it completed',
  details:
    'NAME is an experiment the controller knows. A FILE (an existing path, or a name ending in .yaml,\n' +
    '.yml or .json) is validated locally, uploaded (replacing the experiment of the same name), then run.\n' +
    'While following, Ctrl-C aborts the run (its faults are reverted) and exits with 130.',
  options: {
    'dry-run': { type: 'boolean', description: 'resolve targets and run the "before" probes; inject nothing' },
    detach: { type: 'boolean', short: 'd', description: 'print the run id and exit without following' },
    json: { type: 'boolean', description: 'print the final journal as JSON instead of progress lines' },
  },
  remote: true,
  positionals: { min: 1, max: 1 },
};

/** Polling interval when the event stream is unavailable. */
export const POLL_INTERVAL_MS = 1000;
/** Consecutive failed polls after which the CLI stops following (about 30s without a controller). */
const MAX_POLL_FAILURES = 30;

/** `faultline run NAME|FILE` */
export function runCommand(argv: string[], io: CliIo): Promise<number> {
  return remoteVerb(runSpec, argv, io, async (client, args) => {
    const json = flagOption(args, 'json');
    const dryRun = flagOption(args, 'dry-run');
    const target = args.positionals[0] ?? '';
    const note = (line: string) => (json ? io.stderr : io.stdout).write(`${line}\n`);

    let name = target;
    if (await looksLikeFile(target, io)) {
      const check = await checkManifestFile(target, io);
      if (!check.ok) {
        for (const line of check.lines) io.stderr.write(`${line}\n`);
        return EXIT_FAILURE;
      }
      if (check.manifest.kind !== 'Experiment') {
        io.stderr.write(`error: ${target} is a ${check.manifest.kind}; "faultline run" runs experiments\n`);
        return EXIT_FAILURE;
      }
      name = check.manifest.metadata.name;
      await client.put(`/api/v1/experiments/${encodeURIComponent(name)}`, check.text, 'application/yaml');
      note(`experiment ${name} uploaded from ${target}`);
    }
    const started = await client.post<{ id: string }>(`/api/v1/experiments/${encodeURIComponent(name)}/runs`, { dryRun });
    note(`run ${started.id} started${dryRun ? ' (dry run)' : ''}`);
    if (flagOption(args, 'detach')) {
      if (json) io.stdout.write(`${JSON.stringify({ id: started.id })}\n`);
      return EXIT_OK;
    }
    return await followRun(client, started.id, io, { json });
  });
}

/**
 * Follows a run until it ends: streams its events (falling back to polling if the stream drops),
 * then prints the journal's summary. Ctrl-C (via `io.onInterrupt`) asks the controller to abort.
 * Returns 0 when the run completed, 1 otherwise, 130 when interrupted.
 */
export async function followRun(client: ApiClient, id: string, io: CliIo, options: { json?: boolean } = {}): Promise<number> {
  const interrupt = new AbortController();
  const unregister = io.onInterrupt?.(() => interrupt.abort());
  let printed = 0;
  const show = (event: TimelineEvent, seq: number) => {
    if (seq < printed) return; // already shown (a replay after reconnecting)
    printed = seq + 1;
    if (!options.json) io.stdout.write(`${timelineLine(event)}\n`);
  };
  const runPath = `/api/v1/runs/${encodeURIComponent(id)}`;
  try {
    let ended = false;
    try {
      ended = await streamRunEvents(client, id, interrupt.signal, (event) => show(event, event.seq ?? printed));
    } catch (error) {
      if (interrupt.signal.aborted) throw error;
      if (error instanceof ApiError && error.status >= 400 && error.status < 500) throw error;
      io.stderr.write(`note: event stream unavailable (${(error as Error).message}); polling instead\n`);
    }
    if (!ended && !interrupt.signal.aborted) {
      await pollRun(client, runPath, interrupt.signal, io, (journal) => {
        journal.timeline.slice(printed).forEach((event, i) => show(event, printed + i));
      });
    }
  } catch (error) {
    if (!interrupt.signal.aborted) throw error;
  } finally {
    unregister?.();
  }
  if (interrupt.signal.aborted) {
    io.stderr.write(`\ninterrupted: aborting run ${id}\n`);
    try {
      await client.post(`${runPath}/abort`, { reason: 'interrupted from the CLI (Ctrl-C)' });
      io.stderr.write(`abort requested; the controller reverts the run's faults. Check with "faultline runs ${id}"\n`);
    } catch (error) {
      printError(io, error, client.options);
    }
    return EXIT_INTERRUPTED;
  }
  const journal = await client.get<RunJournal>(runPath);
  if (options.json) io.stdout.write(`${JSON.stringify(journal, null, 2)}\n`);
  else io.stdout.write(`\n${journalSummary(journal)}`);
  return journal.status === 'completed' ? EXIT_OK : EXIT_FAILURE;
}

/**
 * Reads `GET /api/v1/runs/{id}/events` and calls `onTimeline` for each timeline event. Resolves
 * true after the `end` event, false if the stream closed before it.
 */
export async function streamRunEvents(
  client: ApiClient,
  id: string,
  signal: AbortSignal,
  onTimeline: (event: TimelineEvent & { seq?: number }) => void,
  onEnd?: (summary: RunSummary) => void,
): Promise<boolean> {
  const body = await client.openStream(`/api/v1/runs/${encodeURIComponent(id)}/events`, signal);
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal.aborted) throw error;
        return false; // the connection dropped
      }
      const text = chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
      for (const message of parser.push(text)) {
        let data: unknown;
        try {
          data = JSON.parse(message.data);
        } catch {
          continue; // not ours to interpret
        }
        if (message.event === 'timeline') onTimeline(data as TimelineEvent & { seq?: number });
        else if (message.event === 'end') {
          onEnd?.(data as RunSummary);
          return true;
        }
      }
      if (chunk.done) return false;
    }
  } finally {
    reader.releaseLock();
    if (!signal.aborted) await body.cancel().catch(() => undefined);
  }
}

async function pollRun(
  client: ApiClient,
  runPath: string,
  signal: AbortSignal,
  io: CliIo,
  onJournal: (journal: RunJournal) => void,
): Promise<void> {
  let failures = 0;
  for (;;) {
    try {
      const journal = await client.get<RunJournal>(runPath, { signal });
      failures = 0;
      onJournal(journal);
      if (isFinalStatus(journal.status)) return;
    } catch (error) {
      if (signal.aborted || !(error instanceof UnreachableError)) throw error;
      if (failures === 0) io.stderr.write(`note: ${error.message}; retrying\n`);
      if (++failures >= MAX_POLL_FAILURES) {
        throw new Error(
          `lost contact with the controller at ${client.options.server}; the run may still be going: check with "faultline runs ${runPath.split('/').pop() ?? ''}"`,
        );
      }
    }
    await sleep(POLL_INTERVAL_MS, signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Experiment names have no '.' or '/', so anything with them, or an existing file, is a path. */
async function looksLikeFile(arg: string, io: CliIo): Promise<boolean> {
  if (/\.(ya?ml|json)$/i.test(arg) || arg.includes('/') || arg.includes('\\')) return true;
  try {
    return (await stat(resolvePath(arg, io))).isFile();
  } catch {
    return false;
  }
}
