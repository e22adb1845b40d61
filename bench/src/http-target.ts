/**
 * The upstream server of the proxy benchmarks: `GET /ping` answers `ok`; `GET /bytes?n=N` streams N
 * bytes; `GET /delay?ms=N` answers `ok` after setTimeout(N), the floor of any delay a Node process
 * adds with timers. Prints `READY <port>`. `node bench/dist/http-target.js`
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const CHUNK = Buffer.alloc(64 * 1024, 120);

const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  if (url.pathname === '/ping') {
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    response.end('ok');
    return;
  }
  if (url.pathname === '/delay') {
    setTimeout(() => {
      response.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      response.end('ok');
    }, Number(url.searchParams.get('ms') ?? 0));
    return;
  }
  if (url.pathname === '/bytes') {
    let left = Number(url.searchParams.get('n') ?? 0);
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
    const pump = (): void => {
      while (left > 0) {
        const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        left -= chunk.length;
        if (!response.write(chunk)) {
          response.once('drain', pump);
          return;
        }
      }
      response.end();
    };
    pump();
    return;
  }
  response.writeHead(404).end();
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => process.exit(0));
