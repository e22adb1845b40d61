/**
 * The floor of the agent idle benchmark: a Node process that holds one WebSocket to a server and
 * answers its pings, and does nothing else. `node bench/dist/idle-baseline.js ws://127.0.0.1:PORT`
 */
import WebSocket from 'ws';

const url = process.argv[2];
if (!url) {
  process.stderr.write('usage: idle-baseline.js WS_URL\n');
  process.exit(2);
}
const ws = new WebSocket(url, { perMessageDeflate: false });
ws.on('open', () => {
  ws.send(JSON.stringify({ type: 'hello' }));
  process.stdout.write('CONNECTED\n');
});
ws.on('message', (data: Buffer) => {
  const frame = JSON.parse(data.toString('utf8')) as { type?: string; ts?: number };
  if (frame.type === 'ping') ws.send(JSON.stringify({ type: 'pong', ts: frame.ts }));
});
ws.on('close', () => process.exit(0));
ws.on('error', (error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
