/** The child side of {@link forkRpc}: answers `{id, command, args}` messages over the IPC channel. */

export type RpcHandlers = Record<string, (args: Record<string, unknown>) => unknown>;

interface RpcRequest {
  id: number;
  command: string;
  args: Record<string, unknown>;
}

/** Serves `handlers` until the parent disconnects (then exits). */
export function serveRpc(handlers: RpcHandlers): void {
  if (!process.send) throw new Error('not started with an IPC channel: run through forkRpc');
  const send = process.send.bind(process);
  process.on('message', (raw: RpcRequest) => {
    const handler = handlers[raw.command];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown command ${raw.command}`);
        return handler(raw.args);
      })
      .then(
        (result) => send({ id: raw.id, ok: true, result }),
        (error: unknown) => send({ id: raw.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
  process.stdout.write('RPC READY\n');
}

/** Runs the garbage collector a few times (node --expose-gc) so that heap figures are live data only. */
export async function fullGc(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run node with --expose-gc');
  for (let i = 0; i < 4; i += 1) {
    gc();
    await new Promise((done) => setImmediate(done));
  }
}
