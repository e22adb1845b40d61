import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AuthFailureLimiter, type AuthFailureLimiterOptions } from './api/auth-limiter.js';
import { Hub } from './hub/hub.js';
import { registerRoutes } from './api/routes.js';
import { loadExperimentsDir } from './experiments.js';
import { ControllerMetrics } from './metrics/metrics.js';
import { runProbe } from './probes/run-probe.js';
import { RunManager } from './runs/run-manager.js';
import { registerGameDayRoutes } from './api/gameday-routes.js';
import { GameDayRunner } from './scheduler/gameday-runner.js';
import { controllerFireTarget } from './scheduler/gamedays.js';
import { Scheduler } from './scheduler/scheduler.js';
import type { ProbeRunner } from './runs/runner.js';
import { Store } from './store/store.js';

/** Options of {@link createController}. */
export interface ControllerOptions {
  /** Host to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. Default 7070. */
  port?: number;
  /** Data directory for the SQLite store. */
  dataDir: string;
  /** Folder of manifests loaded at start-up. */
  experimentsDir?: string;
  apiToken: string;
  agentToken: string;
  /** PEM files; when both are given the controller serves https and wss. */
  tls?: { certFile: string; keyFile: string };
  /** Permit exec probes. Default false. */
  allowExecProbes?: boolean;
  logger: Logger;
  /** Controller-to-agent ping period. Default 2000 ms. */
  heartbeatIntervalMs?: number;
  /** Replaces the probe runner (tests). */
  runProbe?: ProbeRunner;
  /** Failed-authentication limit per remote address, shared by REST and the agent endpoint. Default 10 failures per 10 s. */
  authFailureLimit?: AuthFailureLimiterOptions;
}

/** Lifecycle of the controller. */
export type ControllerState = 'created' | 'listening' | 'closing' | 'closed';

/** A built controller: call {@link Controller.listen}, then {@link Controller.close}. */
export interface Controller {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly hub: Hub;
  readonly runs: RunManager;
  /** Arms the schedules of experiments and game days (started by listen()). */
  readonly scheduler: Scheduler;
  readonly gamedays: GameDayRunner;
  /** The Prometheus registry served on `/metrics`. */
  readonly metrics: ControllerMetrics;
  readonly state: ControllerState;
  /** Starts serving; resolves with the base URL. */
  listen(): Promise<string>;
  /** Stops schedules and refuses runs, aborts live runs (reverting faults), closes agent sockets, the server, the store. Idempotent. */
  close(): Promise<void>;
}

/** Builds the controller without listening. */
export async function createController(options: ControllerOptions): Promise<Controller> {
  const log = options.logger;
  const store = Store.open(options.dataDir);
  const authLimiter = new AuthFailureLimiter(options.authFailureLimit);
  const hub = new Hub({
    agentToken: options.agentToken,
    log,
    authLimiter,
    ...(options.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: options.heartbeatIntervalMs }),
  });
  const allowExecProbes = options.allowExecProbes ?? false;
  const runs: RunManager = new RunManager({
    store,
    hub,
    log,
    runProbe: options.runProbe ?? runProbe,
    allowExecProbes,
    onJournal: (writer) => metrics.observeRun(writer),
  });
  const metrics = new ControllerMetrics({ hub, runs });
  runs.recoverInterrupted();
  const gamedays = new GameDayRunner({ store, runs, log });
  gamedays.recoverInterrupted();
  const scheduler = new Scheduler({ store, target: controllerFireTarget(store, runs, gamedays), log });
  if (options.experimentsDir) await loadExperimentsDir(options.experimentsDir, store, allowExecProbes, log.child({ component: 'experiments' }));

  const https = options.tls ? { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) } : null;
  const app = (https ? Fastify({ https, loggerInstance: log, bodyLimit: 1024 * 1024, disableRequestLogging: true }) : Fastify({ loggerInstance: log, bodyLimit: 1024 * 1024, disableRequestLogging: true })) as unknown as FastifyInstance;
  // Bodies are kept as text: manifests need their source for line/column errors; JSON routes parse it themselves.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.server.on('upgrade', (request, socket, head) => {
    if (!hub.handleUpgrade(request, socket, head)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });
  registerRoutes(app, {
    store,
    hub,
    runs,
    apiToken: options.apiToken,
    allowExecProbes,
    authLimiter,
    metrics: async () => ({ contentType: metrics.contentType, text: await metrics.render() }),
    nextFire: (name) => scheduler.nextFire('experiment', name),
  });
  registerGameDayRoutes(app, { store, runs, gamedays, scheduler });

  let state: ControllerState = 'created';
  let closing: Promise<void> | undefined;
  return {
    app,
    store,
    hub,
    runs,
    scheduler,
    gamedays,
    metrics,
    get state() {
      return state;
    },
    async listen() {
      await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 7070 });
      state = 'listening';
      scheduler.start();
      const address = app.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `${https ? 'https' : 'http'}://${host}:${address.port}`;
    },
    close() {
      closing ??= (async () => {
        state = 'closing';
        const steps: (() => Promise<void>)[] = [
          // Stop schedules and refuse runs first: no fire may start a run while the rest shuts down.
          () => Promise.resolve(scheduler.stop()),
          () => gamedays.shutdown('the controller is shutting down'),
          () => runs.shutdown('the controller is shutting down'),
          () => hub.close(),
          () => app.close(),
          () => Promise.resolve(store.close()),
        ];
        for (const step of steps) {
          try {
            await step();
          } catch (error) {
            log.error({ err: error }, 'error during shutdown');
          }
        }
        state = 'closed';
      })();
      return closing;
    },
  };
}
