import type { FastifyInstance } from 'fastify';
import type { ScheduleKind } from '@faultline/shared';
import type { RunManager } from '../runs/run-manager.js';
import { acceptGameDay } from '../scheduler/gamedays.js';
import type { GameDayRunner } from '../scheduler/gameday-runner.js';
import { scheduleKey, type Scheduler } from '../scheduler/scheduler.js';
import type { Store } from '../store/store.js';
import { bodyText, checkName, invalid, jsonBody, notFound } from './http-helpers.js';

/** What the game-day and schedule routes need. */
export interface GameDayRouteDeps {
  store: Store;
  runs: RunManager;
  gamedays: GameDayRunner;
  scheduler: Scheduler;
}

/**
 * Registers `/api/v1/gamedays`, `/api/v1/gameday-runs` and `/api/v1/schedules` (docs/api.md,
 * docs/scheduling.md). Authentication and the error format come from the hooks of registerRoutes.
 */
export function registerGameDayRoutes(app: FastifyInstance, deps: GameDayRouteDeps): void {
  const { store, gamedays, scheduler } = deps;

  app.get('/api/v1/gamedays', () =>
    store.listGameDays().map((g) => ({
      name: g.name,
      description: g.manifest.metadata.description ?? null,
      labels: g.manifest.metadata.labels ?? {},
      origin: g.origin,
      updatedAt: g.updatedAt,
      experiments: g.manifest.spec.experiments,
      stopOnDeviation: g.manifest.spec.stopOnDeviation,
      concurrency: g.manifest.spec.concurrency,
      schedule: g.manifest.spec.schedule ?? null,
      window: g.manifest.spec.window ?? null,
      nextFire: scheduler.nextFire('gameday', g.name),
      lastRun: store.listGameDayRuns({ gameday: g.name, limit: 1 })[0] ?? null,
    })),
  );

  app.get<{ Params: { name: string } }>('/api/v1/gamedays/:name', (request) => {
    const gameday = store.getGameDay(checkName(request.params.name));
    if (!gameday) throw notFound('game day', request.params.name);
    return {
      name: gameday.name,
      origin: gameday.origin,
      updatedAt: gameday.updatedAt,
      source: gameday.source,
      manifest: gameday.manifest,
      nextFire: scheduler.nextFire('gameday', gameday.name),
    };
  });

  app.put<{ Params: { name: string } }>('/api/v1/gamedays/:name', (request, reply) => {
    const name = checkName(request.params.name);
    const text = bodyText(request);
    if (text === '') throw invalid('body', 'send the manifest as YAML or JSON');
    const manifest = acceptGameDay(text, store, name);
    const existed = store.getGameDay(name) !== undefined;
    const json = (request.headers['content-type'] ?? '').includes('json');
    store.putGameDay({ name, source: text, format: json ? 'json' : 'yaml', origin: 'api', manifest });
    return reply.code(existed ? 200 : 201).send({ name, created: !existed, nextFire: scheduler.nextFire('gameday', name) });
  });

  app.delete<{ Params: { name: string } }>('/api/v1/gamedays/:name', (request, reply) => {
    if (!store.deleteGameDay(checkName(request.params.name))) throw notFound('game day', request.params.name);
    return reply.code(204).send();
  });

  app.post<{ Params: { name: string } }>('/api/v1/gamedays/:name/runs', (request, reply) => {
    const gameday = store.getGameDay(checkName(request.params.name));
    if (!gameday) throw notFound('game day', request.params.name);
    const body = jsonBody(request);
    const dryRun = body.dryRun ?? false;
    if (typeof dryRun !== 'boolean') throw invalid('dryRun', 'must be true or false');
    const record = gamedays.start(gameday.manifest, { trigger: 'manual', dryRun });
    return reply.code(202).send({ id: record.id, status: record.status });
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/v1/gameday-runs', (request) => {
    const { gameday, limit } = request.query;
    const parsed = limit === undefined ? undefined : Number(limit);
    if (parsed !== undefined && (!Number.isInteger(parsed) || parsed < 1 || parsed > 1000)) throw invalid('limit', 'must be an integer from 1 to 1000');
    return store.listGameDayRuns({ ...(gameday === undefined ? {} : { gameday }), ...(parsed === undefined ? {} : { limit: parsed }) });
  });

  app.get<{ Params: { id: string } }>('/api/v1/gameday-runs/:id', (request) => {
    const record = gamedays.live(request.params.id) ?? store.getGameDayRun(request.params.id);
    if (!record) throw notFound('game-day run', request.params.id);
    return record;
  });

  app.post<{ Params: { id: string } }>('/api/v1/gameday-runs/:id/abort', (request, reply) => {
    const body = jsonBody(request);
    const reason = body.reason ?? 'aborted by a user';
    if (typeof reason !== 'string' || reason.length > 1000) throw invalid('reason', 'must be a string of at most 1000 characters');
    gamedays.abort(request.params.id, reason);
    return reply.code(202).send({ id: request.params.id, status: 'aborting' });
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/v1/schedules', (request) => {
    return scheduler.list(countParam(request.query.count));
  });

  app.get<{ Params: { kind: string; name: string }; Querystring: Record<string, string | undefined> }>('/api/v1/schedules/:kind/:name', (request) => {
    const kind = checkKind(request.params.kind);
    const view = scheduler.get(kind, checkName(request.params.name), countParam(request.query.count));
    if (!view) throw notFound(`${kind} schedule`, request.params.name);
    const limit = request.query.limit === undefined ? 100 : Number(request.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('limit', 'must be an integer from 1 to 1000');
    return { ...view, fires: store.listFires({ schedule: scheduleKey(kind, view.name), limit }) };
  });
}

function countParam(text: string | undefined): number {
  if (text === undefined) return 3;
  const count = Number(text);
  if (!Number.isInteger(count) || count < 0 || count > 100) throw invalid('count', 'must be an integer from 0 to 100');
  return count;
}

function checkKind(kind: string): ScheduleKind {
  if (kind !== 'experiment' && kind !== 'gameday') throw invalid('kind', 'must be experiment or gameday');
  return kind;
}
