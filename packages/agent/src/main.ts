#!/usr/bin/env node
// The only place of the agent that reads the environment and argv, installs signal handlers and exits.
import { readFileSync, realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { errorMessage, isDuration, LabelsSchema, parseDuration } from '@faultline/shared';
import { agentSocketUrl, createAgent, type Agent } from './app.js';
import { AGENT_VERSION } from './version.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

const DEFAULT_STATE_DIR = './.faultline-agent';
const DEFAULT_LEASE_TIMEOUT = '15s';
const MIN_LEASE_TIMEOUT_MS = 100;

function usage(): string {
  return `Usage: faultline-agent --controller URL --token TOKEN [flags]

Runs on each Docker host: connects to the Faultline controller, injects the faults it orders into
this host's containers, and always reverts them (at their deadline, when the controller goes silent
for the lease timeout, at shutdown, and at the next start after a crash).

Flags (environment variable in brackets):
  --controller URL          controller base URL, e.g. http://127.0.0.1:7070 (https:// for TLS)
                            [FAULTLINE_CONTROLLER] (required)
  --token TOKEN             agent token [FAULTLINE_AGENT_TOKEN] (required); the controller prints
                            where it stored it: <data dir>/agent-token, default ./.faultline/agent-token
  --name NAME               agent name [FAULTLINE_AGENT_NAME] (default: the hostname, ${hostname()})
  --labels k=v,k=v          labels experiments select agents by [FAULTLINE_AGENT_LABELS] (default: none)
  --docker-host URL         Docker endpoint [DOCKER_HOST] (default: unix:///var/run/docker.sock)
  --ca FILE                 PEM CA certificate(s) to trust for an https controller [FAULTLINE_CA]
                            (default: the system's CAs)
  --state-dir DIR           fault ledger directory [FAULTLINE_AGENT_STATE] (default: ${DEFAULT_STATE_DIR})
  --lease-timeout DURATION  controller silence after which every fault is reverted, e.g. 15s, 1m
                            [FAULTLINE_LEASE_TIMEOUT] (default: ${DEFAULT_LEASE_TIMEOUT})
  --log-level LEVEL         ${LOG_LEVELS.join(', ')} [FAULTLINE_LOG_LEVEL] (default: info)
  -h, --help                show this help
  -v, --version             print the version

SIGTERM or SIGINT: revert every active fault, then exit (a second signal exits at once).
`;
}

/** A command-line mistake: reported on stderr with exit code 2. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The agent's settings from argv and the environment. */
export interface AgentConfig {
  controllerUrl: string;
  token: string;
  name: string;
  labels: Record<string, string>;
  dockerHost: string | undefined;
  /** PEM file of the CA(s) to trust for an https controller. */
  caFile: string | undefined;
  stateDir: string;
  leaseTimeoutMs: number;
  logLevel: LogLevel;
}

export type ParsedCommand = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: AgentConfig };

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Parses `k=v,k=v` into labels; throws a {@link UsageError} naming the bad pair. */
export function parseLabels(text: string, flag = '--labels'): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq).trim();
    if (eq < 0 || key === '') {
      throw new UsageError(`${flag}: ${JSON.stringify(pair)} is not a key=value pair; write e.g. --labels zone=a,tier=web`);
    }
    if (Object.hasOwn(labels, key)) throw new UsageError(`${flag}: label ${JSON.stringify(key)} is given twice`);
    labels[key] = pair.slice(eq + 1).trim();
  }
  const parsed = LabelsSchema.safeParse(labels);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`${flag}: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid labels'}`);
  }
  return parsed.data;
}

function parseArgError(error: unknown): UsageError {
  const code = (error as { code?: unknown }).code;
  const message = errorMessage(error);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /'([^']+)'/.exec(message)?.[1] ?? message;
    return new UsageError(`unknown flag ${flag} (see --help)`);
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const arg = /'([^']+)'/.exec(message)?.[1] ?? message;
    return new UsageError(`unexpected argument ${JSON.stringify(arg)}: every setting is a flag such as --controller URL (see --help)`);
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /'(--[a-z-]+)/.exec(message)?.[1];
    return new UsageError(flag ? `${flag} needs a value (see --help)` : message);
  }
  return new UsageError(message);
}

/** Reads the agent's settings from argv (flags win) and the environment. Throws {@link UsageError}. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): ParsedCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        controller: { type: 'string' },
        token: { type: 'string' },
        name: { type: 'string' },
        labels: { type: 'string' },
        'docker-host': { type: 'string' },
        ca: { type: 'string' },
        'state-dir': { type: 'string' },
        'lease-timeout': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    }));
  } catch (error) {
    throw parseArgError(error);
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const controllerUrl = nonEmpty(values.controller) ?? nonEmpty(env.FAULTLINE_CONTROLLER);
  if (!controllerUrl) {
    throw new UsageError('no controller: pass --controller URL or set FAULTLINE_CONTROLLER, e.g. --controller http://127.0.0.1:7070');
  }
  try {
    agentSocketUrl(controllerUrl);
  } catch (error) {
    throw new UsageError(`--controller: ${errorMessage(error)}`);
  }

  const token = nonEmpty(values.token) ?? nonEmpty(env.FAULTLINE_AGENT_TOKEN);
  if (!token) {
    throw new UsageError(
      'no agent token: pass --token TOKEN or set FAULTLINE_AGENT_TOKEN. The controller generates it at its first start ' +
        'and prints where it stored it: <data dir>/agent-token (default ./.faultline/agent-token on the controller host), ' +
        'unless it was started with --agent-token.',
    );
  }

  const name = nonEmpty(values.name) ?? nonEmpty(env.FAULTLINE_AGENT_NAME) ?? hostname();
  if (name.length > 253) throw new UsageError(`--name: at most 253 characters, got ${name.length}`);

  const labelsText = values.labels ?? env.FAULTLINE_AGENT_LABELS ?? '';
  const labels = parseLabels(labelsText, values.labels === undefined ? 'FAULTLINE_AGENT_LABELS' : '--labels');

  const leaseText = nonEmpty(values['lease-timeout']) ?? nonEmpty(env.FAULTLINE_LEASE_TIMEOUT) ?? DEFAULT_LEASE_TIMEOUT;
  if (!isDuration(leaseText)) {
    throw new UsageError(`--lease-timeout: invalid duration ${JSON.stringify(leaseText)}: use a number with a unit (ms, s, m, h), e.g. 15s or 1m`);
  }
  const leaseTimeoutMs = parseDuration(leaseText);
  if (leaseTimeoutMs < MIN_LEASE_TIMEOUT_MS) {
    throw new UsageError(`--lease-timeout: ${leaseText} is too short: use at least ${MIN_LEASE_TIMEOUT_MS}ms (the controller pings within it)`);
  }

  const caFile = nonEmpty(values.ca) ?? nonEmpty(env.FAULTLINE_CA);

  const level = nonEmpty(values['log-level']) ?? nonEmpty(env.FAULTLINE_LOG_LEVEL) ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level: ${JSON.stringify(level)} is not a level; use one of ${LOG_LEVELS.join(', ')}`);
  }

  return {
    kind: 'run',
    config: {
      controllerUrl,
      token,
      name,
      labels,
      dockerHost: nonEmpty(values['docker-host']) ?? nonEmpty(env.DOCKER_HOST),
      caFile: caFile === undefined ? undefined : resolve(cwd, caFile),
      stateDir: resolve(cwd, nonEmpty(values['state-dir']) ?? nonEmpty(env.FAULTLINE_AGENT_STATE) ?? DEFAULT_STATE_DIR),
      leaseTimeoutMs,
      logLevel: level as LogLevel,
    },
  };
}

/** Reads a PEM CA file; throws a message naming the file and the flag. */
function readCaFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`--ca ${file}: cannot read it: ${errorMessage(error)}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`--ca ${file}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)`);
  return text;
}

function makeLogger(level: LogLevel): Logger {
  const options = {
    level,
    base: { pid: process.pid, hostname: hostname(), program: 'faultline-agent' },
    redact: {
      paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'Authorization', '*.Authorization'],
      censor: '[redacted]',
    },
  };
  if (process.stdout.isTTY) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  // Synchronous: the last lines before an exit must not be lost.
  return pino(options, pino.destination({ dest: 1, sync: true }));
}

async function main(): Promise<number> {
  let command: ParsedCommand;
  try {
    command = parseCommandLine(process.argv.slice(2), process.env, process.cwd());
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`faultline-agent: error: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (command.kind === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return 0;
  }
  const { config } = command;
  const log = makeLogger(config.logLevel);

  let agent: Agent;
  try {
    const ca = config.caFile === undefined ? undefined : readCaFile(config.caFile);
    agent = createAgent({
      ...(ca === undefined ? {} : { ca }),
      controllerUrl: config.controllerUrl,
      token: config.token,
      name: config.name,
      labels: config.labels,
      ...(config.dockerHost === undefined ? {} : { dockerHost: config.dockerHost }),
      stateDir: config.stateDir,
      leaseTimeoutMs: config.leaseTimeoutMs,
      logger: log,
    });
  } catch (error) {
    log.fatal({ err: error }, 'cannot build the agent');
    return 1;
  }

  return new Promise<number>((resolveExit) => {
    let signals = 0;
    const shutdown = (why: string, failureCode: number): void => {
      agent.close().then(
        (report) => {
          if (report.failed.length > 0) {
            log.error({ failed: report.failed.map((f) => f.faultId) }, 'exiting with faults not reverted: the next start reverts them from the ledger');
            resolveExit(1);
          } else {
            log.info({ why }, 'agent stopped');
            resolveExit(failureCode);
          }
        },
        (error: unknown) => {
          log.error({ err: error }, 'closing the agent failed');
          resolveExit(1);
        },
      );
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) {
        log.error({ signal }, 'second signal: exiting now without waiting for reverts (the ledger keeps what is left)');
        process.exit(1);
      }
      log.info({ signal }, 'signal received: reverting every fault, then exiting');
      shutdown(signal, 0);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    const onCrash = (error: unknown): void => {
      log.fatal({ err: error }, 'unexpected error: reverting every fault, then exiting');
      signals += 1;
      shutdown('crash', 1);
    };
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);

    agent.start().then(
      (report) => {
        if (report.failed.length > 0) {
          log.error({ failed: report.failed }, `${report.failed.length} leftover faults could not be reverted at start-up`);
        }
      },
      (error: unknown) => {
        log.fatal({ err: error, stateDir: config.stateDir }, `the agent could not start: ${errorMessage(error)}`);
        shutdown('start failed', 1);
      },
    );
  });
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`faultline-agent: fatal: ${errorMessage(error)}\n`);
      process.exit(1);
    },
  );
}
