#!/usr/bin/env node
// The only place that reads the environment, installs signal handlers and exits.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { errorMessage } from '@faultline/shared';
import { createController } from './app.js';
import { runCli, type CliIo } from './cli/index.js';
import { ensureTokens } from './store/tokens.js';

const CONTROLLER_HELP = `Usage: faultline controller [flags]

Runs the Faultline controller: REST API, agent WebSocket hub, run engine and store on one port.

Flags (environment variable in brackets):
  --listen HOST:PORT     address to serve on [FAULTLINE_LISTEN] (default 127.0.0.1:7070)
  --experiments DIR      load *.yaml, *.yml, *.json manifests at start-up [FAULTLINE_EXPERIMENTS]
  --data DIR             SQLite store, tokens [FAULTLINE_DATA] (default ./.faultline)
  --api-token TOKEN      REST API token [FAULTLINE_API_TOKEN] (default: generated, kept in DATA/api-token)
  --agent-token TOKEN    agent join token [FAULTLINE_AGENT_TOKEN] (default: generated, kept in DATA/agent-token)
  --tls-cert FILE        PEM certificate; with --tls-key serve https and wss
  --tls-key FILE         PEM private key
  --allow-exec-probes    permit exec probes (off by default)
  --log-level LEVEL      trace, debug, info, warn, error (default info)
  -h, --help             show this help

SIGTERM or SIGINT: stop accepting runs, abort running ones (reverting their faults), close cleanly.
`;

function makeLogger(level: string): Logger {
  const options = {
    level,
    redact: { paths: ['apiToken', 'agentToken', 'token', '*.token', 'req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
  };
  if (process.stdout.isTTY) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(options);
}

async function controllerCommand(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string' },
        experiments: { type: 'string' },
        data: { type: 'string' },
        'api-token': { type: 'string' },
        'agent-token': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'allow-exec-probes': { type: 'boolean' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    io.stderr.write(`error: ${errorMessage(error)}\n\n${CONTROLLER_HELP}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(CONTROLLER_HELP);
    return 0;
  }
  const env = io.env;
  const listen = values.listen ?? env.FAULTLINE_LISTEN ?? '127.0.0.1:7070';
  const match = /^(.*):(\d{1,5})$/.exec(listen);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    io.stderr.write(`error: --listen ${JSON.stringify(listen)}: expected HOST:PORT, e.g. 127.0.0.1:7070 or 0.0.0.0:7070\n`);
    return 2;
  }
  const host = match[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    io.stderr.write('error: --tls-cert and --tls-key must be given together\n');
    return 2;
  }
  const level = values['log-level'] ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(level)) {
    io.stderr.write(`error: --log-level ${JSON.stringify(level)}: expected trace, debug, info, warn or error\n`);
    return 2;
  }
  const dataDir = resolve(io.cwd, values.data ?? env.FAULTLINE_DATA ?? '.faultline');
  const experimentsDir = values.experiments ?? env.FAULTLINE_EXPERIMENTS;
  const tokens = ensureTokens(dataDir, {
    apiToken: values['api-token'] ?? env.FAULTLINE_API_TOKEN,
    agentToken: values['agent-token'] ?? env.FAULTLINE_AGENT_TOKEN,
  });
  const log = makeLogger(level);
  const controller = await createController({
    host,
    port,
    dataDir,
    ...(experimentsDir ? { experimentsDir: resolve(io.cwd, experimentsDir) } : {}),
    apiToken: tokens.apiToken,
    agentToken: tokens.agentToken,
    ...(values['tls-cert'] && values['tls-key'] ? { tls: { certFile: values['tls-cert'], keyFile: values['tls-key'] } } : {}),
    allowExecProbes: values['allow-exec-probes'] ?? false,
    logger: log,
  });
  const url = await controller.listen();
  for (const file of tokens.generated) log.info({ file }, `generated a token and stored it in ${file} (mode 0600)`);
  log.info({ url, dataDir }, `controller listening on ${url}`);

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, 'shutting down: aborting runs and reverting their faults');
      controller.close().then(
        () => resolveExit(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          resolveExit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

const io: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  onInterrupt: (handler) => {
    process.on('SIGINT', handler);
    return () => process.off('SIGINT', handler);
  },
};
runCli(process.argv.slice(2), io, { controller: controllerCommand }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`error: ${errorMessage(error)}\n`);
    process.exitCode = 1;
  },
);
