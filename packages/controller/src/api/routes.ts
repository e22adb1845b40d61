import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  ErrorCode,
  FaultlineError,
  RUN_STATUSES,
  isFinalStatus,
  type RunStatus,
  type RunSummary,
  type TimelineEvent,
} from '@faultline/shared';
import { acceptExperiment } from '../experiments.js';
import type { Hub } from '../hub/hub.js';
import { summarize, type JournalWriter } from '../runs/journal.js';
import type { RunManager } from '../runs/run-manager.js';
import { RUN_LIST_MAX_LIMIT, type Store } from '../store/store.js';
import type { AuthFailureLimiter } from './auth-limiter.js';
import { tokensEqual } from './auth.js';
import { httpError } from './errors.js';
import { bodyText, checkName, invalid, jsonBody, notFound } from './http-helpers.js';

/** What the routes need. */
export interface RouteDeps {
  store: Store;
  hub: Hub;
  runs: RunManager;
  apiToken: string;
  allowExecProbes: boolean;
  metrics: () => Promise<{ contentType: string; text: string }>;
  /** Blocks addresses after repeated failed authentications (429). Default none. */
  authLimiter?: AuthFailureLimiter;
  /** The next fire time (epoch ms) of an experiment's schedule, or null. Default none. */
  nextFire?: (experiment: string) => number | null;
}

/** Routes anyone may call without the API token. */
const PUBLIC_ROUTES = new Set(['/healthz', '/metrics']);

/** Registers health, metrics and the `/api/v1` routes. */
export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { store, hub, runs } = deps;

  app.setErrorHandler((error: unknown, request, reply) => {
    const fastifyError = error as { statusCode?: number; code?: string; message?: string };
    if (fastifyError.statusCode === 413) {
      return reply.code(413).send({ error: 'request body too large', code: 'invalid_request', details: [] });
    }
    if (!(error instanceof FaultlineError) && fastifyError.statusCode && fastifyError.statusCode < 500) {
      return reply.code(fastifyError.statusCode).send({ error: fastifyError.message ?? 'bad request', code: ErrorCode.InvalidRequest, details: [] });
    }
    const { status, body } = httpError(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}`, code: ErrorCode.NotFound, details: [] }),
  );

  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/metrics', async (_request, reply) => {
    const { contentType, text } = await deps.metrics();
    return reply.type(contentType).send(text);
  });

  app.addHook('onRequest', async (request, reply) => {
    // Decide by the matched route, not the raw URL: the router decodes percent-escapes, so
    // `/%61pi/v1/agents` reaches /api/v1/agents although the URL does not start with /api/.
    const route = request.routeOptions.url;
    if (route === undefined ? !request.url.startsWith('/api/') : PUBLIC_ROUTES.has(route)) return;
    const verdict = deps.authLimiter?.check(request.ip);
    if (verdict && !verdict.allowed) {
      await reply
        .code(429)
        .header('retry-after', String(verdict.retryAfterSeconds))
        .send({
          error: `too many failed authentication attempts from ${request.ip}: retry in ${verdict.retryAfterSeconds}s`,
          code: ErrorCode.RateLimited,
          details: [],
        });
      return;
    }
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!tokensEqual(token, deps.apiToken)) {
      if (deps.authLimiter?.fail(request.ip)) request.log.warn({ remote: request.ip }, 'too many failed API authentications: address blocked for a while');
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'missing or wrong API token: send Authorization: Bearer <token>', code: ErrorCode.Unauthorized, details: [] });
    }
  });

  app.get('/api/v1/agents', () => hub.agents());

  app.get('/api/v1/experiments', () =>
    store.listExperiments().map((e) => ({
      name: e.name,
      description: e.manifest.metadata.description ?? null,
      labels: e.manifest.metadata.labels ?? {},
      origin: e.origin,
      updatedAt: e.updatedAt,
      schedule: e.manifest.spec.schedule ?? null,
      nextFire: deps.nextFire?.(e.name) ?? null,
    })),
  );

  app.get<{ Params: { name: string } }>('/api/v1/experiments/:name', (request) => {
    const experiment = store.getExperiment(checkName(request.params.name));
    if (!experiment) throw notFound('experiment', request.params.name);
    return { name: experiment.name, origin: experiment.origin, updatedAt: experiment.updatedAt, source: experiment.source, manifest: experiment.manifest };
  });

  app.put<{ Params: { name: string } }>('/api/v1/experiments/:name', (request, reply) => {
    const name = checkName(request.params.name);
    const text = bodyText(request);
    const manifest = acceptExperiment(text, deps.allowExecProbes, name);
    const existed = store.getExperiment(name) !== undefined;
    const json = (request.headers['content-type'] ?? '').includes('json');
    store.putExperiment({ name, source: text, format: json ? 'json' : 'yaml', origin: 'api', manifest });
    return reply.code(existed ? 200 : 201).send({ name, created: !existed });
  });

  app.delete<{ Params: { name: string } }>('/api/v1/experiments/:name', (request, reply) => {
    if (!store.deleteExperiment(checkName(request.params.name))) throw notFound('experiment', request.params.name);
    return reply.code(204).send();
  });

  app.post<{ Params: { name: string } }>('/api/v1/experiments/:name/runs', (request, reply) => {
    const experiment = store.getExperiment(checkName(request.params.name));
    if (!experiment) throw notFound('experiment', request.params.name);
    const body = jsonBody(request);
    const dryRun = body.dryRun ?? false;
    if (typeof dryRun !== 'boolean') throw invalid('dryRun', 'must be true or false');
    const journal = runs.start(experiment.manifest, { dryRun, trigger: 'manual' });
    return reply.code(202).send({ id: journal.id, status: journal.status });
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/v1/runs', (request) => {
    const { experiment, status, limit } = request.query;
    if (status !== undefined && !RUN_STATUSES.includes(status as RunStatus)) {
      throw invalid('status', `must be one of ${RUN_STATUSES.join(', ')}`);
    }
    const parsedLimit = limit === undefined ? undefined : Number(limit);
    if (parsedLimit !== undefined && (!Number.isInteger(parsedLimit) || parsedLimit < 1 || parsedLimit > RUN_LIST_MAX_LIMIT)) {
      throw invalid('limit', `must be an integer from 1 to ${RUN_LIST_MAX_LIMIT}`);
    }
    const query: { experiment?: string; status?: RunStatus; limit?: number } = {};
    if (experiment !== undefined) query.experiment = experiment;
    if (status !== undefined) query.status = status as RunStatus;
    if (parsedLimit !== undefined) query.limit = parsedLimit;
    return store.listRuns(query);
  });

  app.get<{ Params: { id: string } }>('/api/v1/runs/:id', (request) => {
    const live = runs.live(request.params.id);
    if (live) return live.journal;
    const journal = store.getRun(request.params.id);
    if (!journal) throw notFound('run', request.params.id);
    return journal;
  });

  app.post<{ Params: { id: string } }>('/api/v1/runs/:id/abort', (request, reply) => {
    const body = jsonBody(request);
    const reason = body.reason ?? 'aborted by a user';
    if (typeof reason !== 'string' || reason.length > 1000) throw invalid('reason', 'must be a string of at most 1000 characters');
    runs.abort(request.params.id, reason);
    return reply.code(202).send({ id: request.params.id, status: 'aborting' });
  });

  app.post('/api/v1/halt', async (request) => {
    const body = jsonBody(request);
    const reason = body.reason ?? 'halted by a user';
    if (typeof reason !== 'string' || reason.length > 1000) throw invalid('reason', 'must be a string of at most 1000 characters');
    return runs.halt(reason);
  });

  app.post('/api/v1/resume', () => ({ resumed: runs.resume(), halted: false }));

  app.get('/api/v1/halt', () => {
    const halt = runs.halted();
    return halt ? { halted: true, ...halt } : { halted: false };
  });

  app.get<{ Params: { id: string } }>('/api/v1/runs/:id/events', (request, reply) => {
    const live = runs.live(request.params.id);
    const journal = live?.journal ?? store.getRun(request.params.id);
    if (!journal) throw notFound('run', request.params.id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    journal.timeline.forEach((entry, seq) => send('timeline', { ...entry, seq }));
    if (!live || isFinalStatus(journal.status)) {
      send('end', summarize(journal));
      res.end();
      return;
    }
    streamLive(live, request, send, () => res.end());
  });
}

function streamLive(
  live: JournalWriter,
  request: FastifyRequest,
  send: (event: string, data: unknown) => void,
  end: () => void,
): void {
  const onTimeline = (entry: TimelineEvent & { seq: number }): void => send('timeline', entry);
  const onEnd = (summary: RunSummary): void => {
    cleanup();
    send('end', summary);
    end();
  };
  const keepAlive = setInterval(() => request.raw.socket.write(': keep-alive\n\n'), 15_000);
  const cleanup = (): void => {
    clearInterval(keepAlive);
    live.off('timeline', onTimeline);
    live.off('end', onEnd);
  };
  live.on('timeline', onTimeline);
  live.on('end', onEnd);
  request.raw.on('close', cleanup);
}
