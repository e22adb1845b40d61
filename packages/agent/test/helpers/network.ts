import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Docker from 'dockerode';

const exec = promisify(execFile);

export { CONNECT_TIMEOUT_MS, connectOnce, connectStats, download, type ConnectOutcome, type ConnectStats } from '../../../../test/shared/tcp.js';

/** The container's address on Docker's default bridge. */
export async function containerIp(docker: Docker, id: string): Promise<string> {
  const info = await docker.getContainer(id).inspect();
  const ip = Object.values(info.NetworkSettings.Networks)[0]?.IPAddress;
  if (!ip) throw new Error(`container ${id.slice(0, 12)} has no IP address`);
  return ip;
}

/** `docker exec` with an argument array; resolves with the exit code (never throws on a non-zero one). */
export async function dockerExec(id: string, argv: readonly string[], timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('docker', ['exec', id, ...argv], { timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error) };
  }
}

/**
 * Whether a TCP connection from inside container `from` to `ip:port` is established within 1 s
 * (busybox `nc -w 1`; its stdin is empty, so it closes at once once connected).
 */
export async function connectsFrom(from: string, ip: string, port: number): Promise<boolean> {
  return (await dockerExec(from, ['/bin/busybox', 'nc', '-w', '1', ip, String(port)], 15_000)).code === 0;
}

/** `tc qdisc show dev eth0` as JSON in the namespace of `pid`. */
export async function qdiscsIn(pid: number): Promise<{ kind: string; handle: string; root?: boolean }[]> {
  const { stdout } = await exec('nsenter', ['-t', String(pid), '-n', '--', 'tc', '-j', 'qdisc', 'show', 'dev', 'eth0']);
  return JSON.parse(stdout || '[]') as { kind: string; handle: string; root?: boolean }[];
}

/** `iptables-save` of the agent's (here: the host's) own namespace. */
export async function hostIptablesSave(): Promise<string> {
  return (await exec('iptables-save', [])).stdout;
}
