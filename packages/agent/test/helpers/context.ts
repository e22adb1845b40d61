import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { pino } from 'pino';
import type { FaultContext, LatencyMechanism } from '../../src/faults/types.js';
import { DockerHost } from '../../src/host/docker.js';
import { Ledger } from '../../src/ledger.js';

/** A fault context against the real local Docker engine, with a throw-away state dir. */
export function makeContext(options: { latencyProxyScript: string; latencyMechanisms?: LatencyMechanism[] }): {
  ctx: FaultContext;
  docker: Docker;
  stateDir: string;
  dispose: () => void;
} {
  const stateDir = mkdtempSync(join(tmpdir(), 'faultline-agent-state-'));
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const ctx: FaultContext = {
    // The agent's own client (not the tests' dockerode) so these tests exercise it.
    docker: new DockerHost(),
    ledger: new Ledger(stateDir),
    log: pino({ level: process.env.FAULTLINE_TEST_LOG ?? 'silent' }),
    capabilities: { latencyMechanisms: options.latencyMechanisms ?? ['proxy'] },
    latencyProxyScript: options.latencyProxyScript,
  };
  return { ctx, docker, stateDir, dispose: () => rmSync(stateDir, { recursive: true, force: true }) };
}
