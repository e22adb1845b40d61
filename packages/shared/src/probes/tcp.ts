import { connect } from 'node:net';
import { parseDuration } from '../duration.js';
import type { TcpProbe } from '../manifest/probes.js';
import { deadline, describeNetworkError, type ProbeOutcome } from './common.js';

/** Runs a `tcp` probe: a connection to `host:port` must open within the probe's timeout. */
export async function runTcpProbe(probe: TcpProbe, signal?: AbortSignal): Promise<ProbeOutcome> {
  const where = `${probe.host}:${probe.port}`;
  const limit = deadline(parseDuration(probe.timeout), signal);
  const started = performance.now();
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: probe.host, port: probe.port });
      const onAbort = () => {
        socket.destroy();
        reject(new Error(limit.reason()));
      };
      if (limit.signal.aborted) return onAbort();
      limit.signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        limit.signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve();
      });
      socket.once('error', (error) => {
        limit.signal.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(new Error(describeNetworkError(error, where)));
      });
    });
  } catch (error) {
    const message = (error as Error).message;
    return { ok: false, output: `no connection to ${where}: ${message}`, error: message };
  } finally {
    limit.dispose();
  }
  return { ok: true, output: `connected to ${where} in ${Math.round(performance.now() - started)}ms` };
}
