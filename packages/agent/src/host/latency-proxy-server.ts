import net from 'node:net';

/**
 * The delaying TCP proxy behind the `proxy` latency mechanism, and the argv it is started with.
 * Only Node built-ins here: this module runs inside the container's network namespace as a separate
 * program (latency-proxy-main.ts).
 */

/** The argv marker that identifies a Faultline latency proxy in /proc/<pid>/cmdline. */
export const PROXY_MARKER = 'faultline-latency-proxy';

/** One listener: connections accepted on `listenPort` go to `targetPort` on the original destination. 0 = any free port. */
export interface ProxyMapping {
  listenPort: number;
  targetPort: number;
}

/** The proxy program's options. */
export interface ProxyArgs {
  faultId: string;
  map: ProxyMapping[];
  latencyMs: number;
  jitterMs: number;
  /** Epoch ms; the program exits by itself 5 s after it. Null: no backstop. */
  deadline: number | null;
  /** The FL- chain redirecting to it; the program removes it when it exits, so no redirect outlives it. */
  chain?: string;
}

/** Arguments after the script path: `faultline-latency-proxy --fault ID --map 0:80 ...`. */
export function buildProxyArgv(args: ProxyArgs): string[] {
  const argv = [
    PROXY_MARKER,
    '--fault',
    args.faultId,
    '--map',
    args.map.map((m) => `${m.listenPort}:${m.targetPort}`).join(','),
    '--latency-ms',
    String(args.latencyMs),
    '--jitter-ms',
    String(args.jitterMs),
  ];
  if (args.deadline !== null) argv.push('--deadline', String(args.deadline));
  if (args.chain !== undefined) argv.push('--chain', args.chain);
  return argv;
}

function parsePort(text: string, allowZero: boolean): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535 || (port === 0 && !allowZero)) throw new Error(`invalid port ${JSON.stringify(text)}`);
  return port;
}

/** Inverse of {@link buildProxyArgv}; throws on anything unexpected. */
export function parseProxyArgv(argv: readonly string[]): ProxyArgs {
  if (argv[0] !== PROXY_MARKER) throw new Error(`first argument must be ${PROXY_MARKER}`);
  const values = new Map<string, string>();
  for (let i = 1; i < argv.length; i += 2) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (!['--fault', '--map', '--latency-ms', '--jitter-ms', '--deadline', '--chain'].includes(flag)) throw new Error(`unknown flag ${flag}`);
    if (value === undefined) throw new Error(`${flag} needs a value`);
    values.set(flag, value);
  }
  const faultId = values.get('--fault');
  if (!faultId) throw new Error('--fault is required');
  const mapText = values.get('--map');
  if (!mapText) throw new Error('--map is required');
  const map = mapText.split(',').map((entry) => {
    const [listen, target, extra] = entry.split(':');
    if (listen === undefined || target === undefined || extra !== undefined) throw new Error(`invalid --map entry ${JSON.stringify(entry)}`);
    return { listenPort: parsePort(listen, true), targetPort: parsePort(target, false) };
  });
  const number = (flag: string, fallback?: number): number => {
    const text = values.get(flag);
    if (text === undefined) {
      if (fallback === undefined) throw new Error(`${flag} is required`);
      return fallback;
    }
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid ${flag} ${JSON.stringify(text)}`);
    return value;
  };
  const args: ProxyArgs = {
    faultId,
    map,
    latencyMs: number('--latency-ms'),
    jitterMs: number('--jitter-ms', 0),
    deadline: values.has('--deadline') ? number('--deadline') : null,
  };
  const chain = values.get('--chain');
  if (chain !== undefined) args.chain = chain;
  return args;
}

/** Options of {@link startDelayingProxy}. */
export interface DelayingProxyOptions {
  map: readonly ProxyMapping[];
  latencyMs: number;
  jitterMs: number;
  /** Address the listeners bind; default 0.0.0.0. */
  host?: string;
  /** Uniform random source in [0, 1); default Math.random. */
  random?: () => number;
}

/** A running delaying proxy. */
export interface DelayingProxy {
  /** The mappings with the ports actually bound. */
  readonly ports: ProxyMapping[];
  /** Open client connections. */
  connectionCount(): number;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

/** A listen failure, with the port that could not be bound. */
export class ProxyBindError extends Error {
  override readonly name = 'ProxyBindError';
  constructor(
    readonly port: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// Stop reading from the server while this much delayed data waits to be written to the client.
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;
// Node's timers run on whole milliseconds of loop time and fire, on average, about half a
// millisecond after the time asked for: they are armed that much early, and data due within half a
// millisecond is written at once rather than after one more timer (a millisecond more). Measured
// with `pnpm bench latency` (docs/benchmarks.md): the median added delay then lands within ±1 ms of
// the target, on a par with a bare setTimeout.
const DUE_SLACK_MS = 0.5;
const TIMER_LATE_MS = 0.5;

/** The address to forward to: the connection's original destination (kept by REDIRECT), else loopback. */
function targetHost(socket: net.Socket): string {
  const local = socket.localAddress;
  if (!local) return '127.0.0.1';
  return local.startsWith('::ffff:') ? local.slice('::ffff:'.length) : local;
}

/**
 * Listens on every mapping and forwards each accepted connection to `<its local address>:<targetPort>`.
 * Data from the server to the client is held back by latency ± uniform jitter (drawn per burst of
 * chunks), in order (a chunk is never due before the previous one); data from the client passes at once.
 */
export async function startDelayingProxy(options: DelayingProxyOptions): Promise<DelayingProxy> {
  const random = options.random ?? Math.random;
  const host = options.host ?? '0.0.0.0';
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const servers: net.Server[] = [];
  const ports: ProxyMapping[] = [];
  const delay = (): number => Math.max(0, options.latencyMs + (random() * 2 - 1) * options.jitterMs);

  const handle = (client: net.Socket, targetPort: number): void => {
    sockets.add(client);
    clients.add(client);
    client.setNoDelay(true);
    const upstream = net.connect({ host: targetHost(client), port: targetPort, allowHalfOpen: true });
    sockets.add(upstream);
    upstream.setNoDelay(true);

    // Server-to-client data waits here until due; one timer per connection keeps the order.
    const queue: Array<{ due: number; chunk: Buffer | null }> = [];
    let lastDue = 0;
    let pending = 0;
    let timer: NodeJS.Timeout | undefined;
    let closed = false;

    const destroyBoth = (): void => {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      queue.length = 0;
      client.destroy();
      upstream.destroy();
    };

    const flush = (): void => {
      timer = undefined;
      const horizon = performance.now() + DUE_SLACK_MS;
      while (queue.length > 0 && queue[0]!.due <= horizon) {
        const { chunk } = queue.shift()!;
        if (client.destroyed) return;
        if (chunk === null) {
          client.end();
        } else {
          pending -= chunk.length;
          client.write(chunk);
        }
      }
      if (upstream.isPaused() && pending < LOW_WATER && !client.writableNeedDrain) upstream.resume();
      schedule();
    };

    const schedule = (): void => {
      if (timer || queue.length === 0 || closed) return;
      const wait = queue[0]!.due - performance.now();
      // Already due (no latency set, or a late timer): write now; a timer would add a millisecond.
      if (wait <= DUE_SLACK_MS) flush();
      else timer = setTimeout(flush, Math.max(1, Math.round(wait - TIMER_LATE_MS)));
    };

    let burstDelay = 0;
    const enqueue = (chunk: Buffer | null): void => {
      // Chunks that arrive while earlier ones still wait belong to the same burst (a response split
      // into segments) and share its delay: jitter varies per burst, so a response is not held for
      // the largest of several independent draws.
      if (queue.length === 0) burstDelay = delay();
      const due = Math.max(lastDue, performance.now() + burstDelay);
      lastDue = due;
      queue.push({ due, chunk });
      schedule();
    };

    upstream.on('data', (chunk: Buffer) => {
      pending += chunk.length;
      enqueue(chunk);
      // Data written but not yet taken by a slow client counts too.
      if (pending + client.writableLength > HIGH_WATER) upstream.pause();
    });
    upstream.on('end', () => enqueue(null));
    upstream.on('error', destroyBoth);
    client.on('drain', () => {
      if (upstream.isPaused() && pending < LOW_WATER) upstream.resume();
    });
    upstream.on('connect', () => {
      // Client-to-server passes at once; pipe() forwards a half-close as end().
      client.pipe(upstream);
      client.resume();
    });
    client.on('error', destroyBoth);
    client.on('close', () => {
      sockets.delete(client);
      clients.delete(client);
      destroyBoth();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      // A clean server close leaves the queued data and end() to be delivered on time.
      if (upstream.errored || (!upstream.readableEnded && queue.length === 0)) destroyBoth();
    });
  };

  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  };

  try {
    for (const mapping of options.map) {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => handle(socket, mapping.targetPort));
      await new Promise<void>((resolve, reject) => {
        const onError = (error: NodeJS.ErrnoException) => {
          reject(new ProxyBindError(mapping.listenPort, error.code ?? 'EUNKNOWN', `cannot listen on ${host}:${mapping.listenPort}: ${error.message}`));
        };
        server.once('error', onError);
        server.listen({ host, port: mapping.listenPort, exclusive: true }, () => {
          server.off('error', onError);
          resolve();
        });
      });
      // Accept errors after listening (EMFILE...) must not crash the proxy.
      server.on('error', () => undefined);
      servers.push(server);
      const address = server.address();
      ports.push({ listenPort: typeof address === 'object' && address ? address.port : mapping.listenPort, targetPort: mapping.targetPort });
    }
  } catch (error) {
    await close();
    throw error;
  }

  return {
    ports,
    connectionCount: () => clients.size,
    close,
  };
}
