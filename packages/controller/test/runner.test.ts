/** The run engine against a scripted hub: what happens to faults whose inject outcome is unknown. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ErrorCode, FaultlineError, parseManifest, type Experiment, type RunJournal } from '@faultline/shared';
import type { Hub } from '../src/hub/hub.js';
import { JournalWriter } from '../src/runs/journal.js';
import { Run } from '../src/runs/runner.js';

function experiment(): Experiment {
  const result = parseManifest(`apiVersion: faultline/v1
kind: Experiment
metadata: {name: unit}
spec:
  targets:
    web: {containers: {labels: {app: web}}}
  method:
    - {fault: network-latency, target: web, duration: 30s, params: {latency: 100ms}}
`);
  if (!result.ok || result.manifest.kind !== 'Experiment') throw new Error('bad test manifest');
  return result.manifest;
}

function journal(): RunJournal {
  return {
    id: 'r1',
    experiment: 'unit',
    status: 'pending',
    reason: null,
    dryRun: false,
    trigger: 'manual',
    createdAt: Date.now(),
    startedAt: null,
    endedAt: null,
    manifest: experiment(),
    plan: null,
    steadyState: { before: [], during: [], after: [] },
    faults: [],
    timeline: [],
  };
}

describe('Run', () => {
  it('reverts a fault whose inject timed out, since the agent may still apply it', async () => {
    const reverted: string[] = [];
    const hub = {
      connected: () => [{ name: 'a', hello: { capabilities: { faults: ['network-latency'] } } }],
      listContainers: () => Promise.resolve([{ id: 'c1', name: 'web-1', labels: {}, image: 'x', state: 'running' }]),
      inject: () => Promise.reject(new FaultlineError(ErrorCode.Timeout, 'agent a did not answer inject within 15000ms')),
      revert: (_agent: string, faultId: string) => {
        reverted.push(faultId);
        return Promise.resolve({ type: 'reverted', faultId, revertedAt: Date.now(), cause: 'requested' });
      },
    } as unknown as Hub;
    const writer = new JournalWriter(journal(), () => {});
    const run = new Run(writer, { hub, log: pino({ level: 'silent' }), runProbe: () => Promise.reject(new Error('no probes')), allowExecProbes: false });
    await run.done;
    const { status, reason, faults } = writer.journal;
    expect(status).toBe('failed');
    expect(reason).toMatch(/could not be applied/);
    expect(reverted).toEqual(['r1-s0-0']);
    expect(faults[0]?.revertedAt).not.toBeNull();
    expect(writer.journal.timeline.some((event) => /outcome unknown/.test(event.message))).toBe(true);
  });

  it('does not revert a fault the agent refused outright', async () => {
    const reverted: string[] = [];
    const hub = {
      connected: () => [{ name: 'a', hello: { capabilities: { faults: ['network-latency'] } } }],
      listContainers: () => Promise.resolve([{ id: 'c1', name: 'web-1', labels: {}, image: 'x', state: 'running' }]),
      inject: () => Promise.reject(new FaultlineError(ErrorCode.Conflict, 'agent a: device eth0 already has a root qdisc')),
      revert: (_agent: string, faultId: string) => {
        reverted.push(faultId);
        return Promise.resolve({ type: 'reverted', faultId, revertedAt: Date.now(), cause: 'requested' });
      },
    } as unknown as Hub;
    const writer = new JournalWriter(journal(), () => {});
    const run = new Run(writer, { hub, log: pino({ level: 'silent' }), runProbe: () => Promise.reject(new Error('no probes')), allowExecProbes: false });
    await run.done;
    expect(writer.journal.status).toBe('failed');
    expect(reverted).toEqual([]);
  });
});
