/**
 * The baseline for live delivery, in its own process: a plain `ws` server that, for every
 * message on a Redis channel, sends those bytes unchanged to every connected socket, one
 * pre-serialized frame. It reports its port, then its heap per idle socket when asked.
 */
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';

const [redisUrl, channel] = process.argv.slice(2) as [string, string];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const heap = async () => {
  for (let i = 0; i < 2; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(200);
  }
  return process.memoryUsage().heapUsed;
};

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 4096 });
await new Promise((resolve) => wss.once('listening', resolve));
const subscriber = new Redis(redisUrl);
await subscriber.subscribe(channel);
subscriber.on('messageBuffer', (_channel: Buffer, frame: Buffer) => {
  for (const client of wss.clients) client.send(frame, { binary: false });
});
const heapEmpty = await heap();

process.on('message', (message: { type: string; count?: number }) => {
  if (message.type === 'heap') {
    void (async () => {
      while (wss.clients.size < (message.count ?? 0)) await sleep(50);
      process.send!({
        type: 'heap',
        bytesPerSocket: ((await heap()) - heapEmpty) / wss.clients.size,
      });
    })();
  }
  if (message.type === 'stop') {
    subscriber.disconnect();
    wss.close(() => process.exit(0));
  }
});
process.send!({ type: 'listening', port: (wss.address() as { port: number }).port });
