/**
 * A WebSocket load generator, run in its own process (forked by bench/lib/ws-load.ts) so that
 * the clients' work is not counted against the server being measured.
 *
 * It opens `count` connections, either speaking graphql-ws (connection_init with a session
 * token, then one subscription each) or plain WebSocket (for the raw-broadcast baseline), and
 * for every event records when each connection received it, before parsing anything.
 */
import WebSocket from 'ws';

type Command =
  | {
      type: 'open';
      url: string;
      protocol: 'graphql-ws' | 'raw';
      count: number;
      token?: string;
      query?: string;
      subscriptionsPerConnection?: number;
      /** Per connection: its own connection_init payload and subscription variables. */
      items?: { connectionParams: Record<string, unknown>; variables: Record<string, unknown> }[];
    }
  | { type: 'expect' }
  | { type: 'close' };

const sockets: WebSocket[] = [];
/** Close codes of the connections the server closed, and how often each came. */
const closes = new Map<number, number>();
/** An event not received by every connection within this long is reported as stalled. */
const stallMs = Number(process.env['BENCH_STALL_MS'] ?? 120_000);
let stallTimer: NodeJS.Timeout | undefined;
let arrivals: number[] = [];
let received = new Set<number>();
let expecting = false;
let sampleFrame = '';

const now = () => performance.timeOrigin + performance.now();
const send = (message: unknown) => process.send!(message);

async function open(command: Extract<Command, { type: 'open' }>) {
  const batch = 200;
  for (let start = 0; start < command.count; start += batch) {
    const opening: Promise<void>[] = [];
    for (let i = start; i < Math.min(command.count, start + batch); i++) {
      opening.push(
        new Promise<void>((resolve, reject) => {
          const index = sockets.length;
          const socket = new WebSocket(
            command.url,
            command.protocol === 'graphql-ws' ? 'graphql-transport-ws' : undefined,
          );
          sockets.push(socket);
          socket.on('error', reject);
          socket.on('close', (code: number) => closes.set(code, (closes.get(code) ?? 0) + 1));
          socket.on('message', (data: Buffer) => {
            if (!expecting || received.has(index)) {
              if (
                command.protocol === 'graphql-ws' &&
                !expecting &&
                data.includes('connection_ack')
              ) {
                for (let k = 0; k < (command.subscriptionsPerConnection ?? 1); k++) {
                  socket.send(
                    JSON.stringify({
                      id: `s${k}`,
                      type: 'subscribe',
                      payload: { query: command.query, variables: command.items?.[i]?.variables },
                    }),
                  );
                }
                resolve();
              }
              return;
            }
            received.add(index);
            arrivals.push(now());
            if (received.size === 1) sampleFrame = data.toString();
            if (received.size === sockets.length) {
              expecting = false;
              clearTimeout(stallTimer);
              send({ type: 'arrived', times: arrivals, sampleFrame });
            }
          });
          socket.on('open', () => {
            if (command.protocol === 'graphql-ws') {
              socket.send(
                JSON.stringify({
                  type: 'connection_init',
                  payload: command.items?.[i]?.connectionParams ?? {
                    authorization: `Bearer ${command.token}`,
                  },
                }),
              );
            } else {
              resolve();
            }
          });
        }),
      );
    }
    await Promise.all(opening);
  }
  send({ type: 'opened', count: sockets.length });
}

process.on('message', (command: Command) => {
  switch (command.type) {
    case 'open':
      open(command).catch((error: unknown) => send({ type: 'failed', error: String(error) }));
      break;
    case 'expect':
      arrivals = [];
      received = new Set();
      expecting = true;
      clearTimeout(stallTimer);
      // A bench must not wait forever for connections that will never hear of the event.
      stallTimer = setTimeout(() => {
        if (!expecting) return;
        send({
          type: 'stalled',
          received: received.size,
          total: sockets.length,
          closed: Object.fromEntries(closes),
        });
      }, stallMs);
      send({ type: 'expecting' });
      break;
    case 'close':
      for (const socket of sockets) socket.terminate();
      sockets.length = 0;
      send({ type: 'closed' });
      break;
  }
});
