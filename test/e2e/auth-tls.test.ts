/**
 * Authentication and transport (SPEC §5, issue 6 item 3), against real controller and agent
 * processes: every /api/v1 route needs the API token, agents need the join token, failed
 * authentications are rate-limited per address (REST and the agent WebSocket), https and wss work
 * with certificates made here by openssl, and no token ever shows in a log line or an error.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { startWebContainer } from './fixtures/docker.js';
import { CONTROLLER_MAIN, ROOT } from './fixtures/faultline.js';
import {
  httpRequest,
  launchAgent,
  launchController,
  listAgents,
  makeCertificates,
  secretToken,
  type ControllerProc,
} from './fixtures/hardening.js';
import { waitFor } from './fixtures/http.js';
import { runCommand, tempDir } from './fixtures/process.js';

/** Every route of a controller built in-process from the dist (never listening), from fastify's printRoutes(). */
async function controllerRoutes(): Promise<{ method: string; path: string }[]> {
  const script = `
    import { createController } from './dist/app.js';
    import { pino } from 'pino';
    import { mkdtempSync, rmSync } from 'node:fs';
    const dir = mkdtempSync('/tmp/faultline-routes-');
    const c = await createController({ dataDir: dir, apiToken: 'x', agentToken: 'y', logger: pino({ level: 'silent' }), port: 0 });
    await c.app.ready();
    process.stdout.write(c.app.printRoutes({ commonPrefix: false }));
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  `;
  const result = await runCommand(process.execPath, ['--input-type=module', '-e', script], { cwd: `${ROOT}/packages/controller`, timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`listing routes failed: ${result.stderr}`);
  const routes: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of result.stdout.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([^)]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    const path = `${stack[depth - 1] ?? ''}${match[2]}`;
    stack.push(path);
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method !== '' && method !== 'HEAD') routes.push({ method, path });
    }
  }
  return routes;
}

/** Status of a WebSocket upgrade of the agent endpoint (101 when accepted), from a chosen source address. */
function upgradeStatus(controller: ControllerProc, token: string, localAddress: string): Promise<{ status: number; retryAfter?: string }> {
  const url = new URL(controller.url);
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: url.hostname,
      port: url.port,
      path: '/api/v1/agents/connect',
      localAddress,
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-version': '13',
        authorization: `Bearer ${token}`,
      },
    });
    request.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve({ status: 101 });
    });
    request.on('response', (res) => {
      res.resume();
      const retryAfter = res.headers['retry-after'];
      resolve({ status: res.statusCode ?? 0, ...(retryAfter === undefined ? {} : { retryAfter }) });
    });
    request.on('error', reject);
    request.end();
  });
}

function expectNoSecrets(texts: string[], secrets: string[]): void {
  for (const secret of secrets) {
    const leaks = texts.filter((text) => text.includes(secret));
    expect(leaks, `a token appears in ${leaks.length} log line(s)/message(s):\n${leaks.slice(0, 3).join('\n')}`).toEqual([]);
  }
}

describe('authentication and transport (real processes)', () => {
  it('every /api/v1 route answers 401 without the API token, also behind percent-escapes in the path', async () => {
    const routes = await controllerRoutes();
    const api = routes.filter((route) => route.path.startsWith('/api/'));
    // The routes of SPEC §5 are all there (a parse failure would make this test vacuous).
    expect(api.length).toBeGreaterThanOrEqual(12);
    expect(api).toContainEqual({ method: 'POST', path: '/api/v1/halt' });
    await using controller = await launchController();
    const wrong = secretToken('wrong');
    let source = 10;
    const checked: string[] = [];
    for (const route of api) {
      const path = route.path.replace(/:[a-z]+/g, 'some-name');
      const variants: { path: string; headers: Record<string, string> }[] = [
        { path, headers: {} },
        { path, headers: { authorization: `Bearer ${wrong}` } },
        { path, headers: { authorization: `Basic ${Buffer.from(`x:${controller.apiToken}`).toString('base64')}` } },
        // The router decodes escapes: /%61pi/... is /api/...; it once slipped past a prefix check.
        { path: path.replace('/api/', '/%61pi/'), headers: {} },
        { path: path.replace('/v1/', '/v%31/'), headers: { authorization: `Bearer ${controller.apiToken.slice(0, -1)}` } },
      ];
      // A fresh loopback source address per route keeps each under the failed-authentication limit.
      const localAddress = `127.0.0.${source++}`;
      for (const variant of variants) {
        const response = await controller.api<{ code: string; error: string }>(route.method, variant.path, route.method === 'GET' ? undefined : {}, {
          token: null,
          headers: variant.headers,
          localAddress,
        });
        expect(response.status, `${route.method} ${variant.path} ${JSON.stringify(variant.headers)}: ${response.text}`).toBe(401);
        expect(response.body.code).toBe('unauthorized');
        expect(response.headers['www-authenticate']).toBe('Bearer');
        expect(response.text).not.toContain(wrong);
        expect(response.text).not.toContain(controller.apiToken);
      }
      const authorised = await controller.api(route.method, path, route.method === 'GET' ? undefined : {}, { localAddress: '127.0.0.1' });
      expect(authorised.status, `${route.method} ${path} with the token`).not.toBe(401);
      checked.push(`${route.method} ${route.path}`);
    }
    for (const open of ['/healthz', '/metrics']) expect((await controller.api('GET', open, undefined, { token: null })).status).toBe(200);
    process.stdout.write(`auth: ${checked.length} /api routes x 5 unauthenticated variants -> 401: ${checked.join(', ')}\n`);
    expectNoSecrets(controller.logs(), [controller.apiToken, controller.agentToken, wrong]);
  });

  it('refuses an agent with a wrong join token (logged, never listed) and keeps tokens out of logs and errors', async () => {
    await using controller = await launchController();
    const wrong = secretToken('wrong-agent');
    await using intruder = await launchAgent(controller, { name: 'intruder', token: wrong, waitConnected: false });
    await using good = await launchAgent(controller, { name: 'good-agent' });
    await controller.process.waitForLine(/agent connection refused: wrong or missing agent token/, 15_000);
    await intruder.process.waitForLine(/refused the agent token \(HTTP 401\)/, 15_000);
    const agents = await listAgents(controller);
    expect(agents.map((agent) => agent.name)).toEqual(['good-agent']);

    // The CLI with a wrong token: a clear error that does not echo the token.
    const cli = await runCommand(process.execPath, [CONTROLLER_MAIN, 'agents', '--server', controller.url, '--token', wrong]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/401|token/i);
    const ok = await runCommand(process.execPath, [CONTROLLER_MAIN, 'agents', '--server', controller.url], { env: { FAULTLINE_API_TOKEN: controller.apiToken } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('good-agent');

    // The controller logs at debug level here, so that even verbose lines are checked.
    expectNoSecrets([...controller.logs(), ...intruder.logs(), ...good.logs(), cli.stdout, cli.stderr, ok.stdout, ok.stderr], [controller.apiToken, controller.agentToken, wrong]);
    await good[Symbol.asyncDispose]();
    expectNoSecrets([...controller.logs(), ...good.logs()], [controller.apiToken, controller.agentToken]);
  });

  it('rate-limits failed authentications per address: 10 failures in 10 s, then 429 with Retry-After, on REST and the agent endpoint', async () => {
    await using controller = await launchController();
    const wrong = secretToken('guess');
    // REST from 127.0.0.2: ten wrong guesses are answered 401, then the address is blocked.
    for (let i = 0; i < 10; i++) {
      expect((await controller.api('GET', '/api/v1/agents', undefined, { token: wrong, localAddress: '127.0.0.2' })).status).toBe(401);
    }
    const blocked = await controller.api<{ code: string; error: string }>('GET', '/api/v1/agents', undefined, { token: wrong, localAddress: '127.0.0.2' });
    expect(blocked.status).toBe(429);
    expect(blocked.body.code).toBe('rate_limited');
    const retryAfter = Number(blocked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    // While blocked, even the right token from that address is not evaluated: guessing is useless.
    expect((await controller.api('GET', '/api/v1/agents', undefined, { localAddress: '127.0.0.2' })).status).toBe(429);
    // Other addresses are not affected.
    expect((await controller.api('GET', '/api/v1/agents', undefined, { localAddress: '127.0.0.1' })).status).toBe(200);

    // The agent endpoint from 127.0.0.3: the same limit on the WebSocket upgrade.
    for (let i = 0; i < 10; i++) expect((await upgradeStatus(controller, wrong, '127.0.0.3')).status).toBe(401);
    const wsBlocked = await upgradeStatus(controller, controller.agentToken, '127.0.0.3');
    expect(wsBlocked.status).toBe(429);
    expect(Number(wsBlocked.retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await upgradeStatus(controller, controller.agentToken, '127.0.0.4')).status).toBe(101);
    await controller.process.waitForLine(/too many failed API authentications/, 5000);
    await controller.process.waitForLine(/too many wrong agent tokens/, 5000);
    // Health stays public and unaffected.
    expect((await controller.api('GET', '/healthz', undefined, { token: null, localAddress: '127.0.0.2' })).status).toBe(200);
    expectNoSecrets(controller.logs(), [controller.apiToken, controller.agentToken, wrong]);
  });

  it('serves https and wss with --tls-cert/--tls-key; agents and the CLI trust it with --ca (or FAULTLINE_CA) and refuse it without', async () => {
    await using dir = await tempDir('faultline-tls-');
    const tls = await makeCertificates(dir.path);
    await using controller = await launchController({ tls });
    expect(controller.url).toMatch(/^https:/);
    expect((await controller.api('GET', '/healthz', undefined, { token: null })).status).toBe(200);
    await expect(httpRequest(controller.url, '/healthz')).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);

    await using withCa = await launchAgent(controller, { name: 'tls-flag', args: ['--ca', tls.caCert] });
    await using withEnv = await launchAgent(controller, { name: 'tls-env', env: { FAULTLINE_CA: tls.caCert } });
    await using untrusting = await launchAgent(controller, { name: 'tls-none', waitConnected: false });
    await untrusting.process.waitForLine(/TLS certificate is not trusted: pass its CA with --ca/, 15_000);
    expect((await listAgents(controller)).map((agent) => agent.name).sort()).toEqual(['tls-env', 'tls-flag']);

    // A dry run over wss: list-containers goes to the agent and back through TLS.
    const label = `tls-${Date.now()}`;
    await using _web = await startWebContainer({ labels: { e2e: label } });
    const yaml = `apiVersion: faultline/v1
kind: Experiment
metadata: {name: tls-dry}
spec:
  targets:
    web: {agents: {names: [tls-flag]}, containers: {labels: {e2e: "${label}"}}}
  method:
    - {fault: container-kill, target: web}
`;
    expect((await controller.api('PUT', '/api/v1/experiments/tls-dry', yaml, { contentType: 'application/yaml' })).status).toBe(201);
    const run = await controller.api<{ id: string }>('POST', '/api/v1/experiments/tls-dry/runs', { dryRun: true });
    expect(run.status).toBe(202);
    const journal = await waitFor(
      async () => {
        const r = await controller.api<{ status: string; reason: string }>('GET', `/api/v1/runs/${run.body.id}`);
        return ['completed', 'failed', 'aborted', 'deviated'].includes(r.body.status) ? r.body : undefined;
      },
      { timeoutMs: 20_000, message: 'the dry run to end' },
    );
    expect(journal.status, journal.reason).toBe('completed');

    // The CLI: --ca, FAULTLINE_CA, and a clear refusal without.
    const base = [CONTROLLER_MAIN, 'agents', '--server', controller.url];
    const env = { FAULTLINE_API_TOKEN: controller.apiToken };
    const flag = await runCommand(process.execPath, [...base, '--ca', tls.caCert], { env });
    expect(flag.code, flag.stderr).toBe(0);
    expect(flag.stdout).toContain('tls-flag');
    const fromEnv = await runCommand(process.execPath, base, { env: { ...env, FAULTLINE_CA: tls.caCert } });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    const refused = await runCommand(process.execPath, base, { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/TLS certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): pass its CA with --ca/);

    expectNoSecrets(
      [...controller.logs(), ...withCa.logs(), ...withEnv.logs(), ...untrusting.logs(), flag.stdout, flag.stderr, refused.stderr],
      [controller.apiToken, controller.agentToken],
    );
  });
});
