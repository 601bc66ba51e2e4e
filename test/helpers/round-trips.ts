import { connect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import type { VerityApp } from '../../src/app.js';

/**
 * Counts what one piece of work costs in round trips: MongoDB commands seen by the driver's
 * command monitoring (the server must start with `monitorCommands`), and Redis commands sent by
 * clients as seen by MONITOR (commands that Lua scripts run inside Redis are not trips and are
 * left out). Use a dedicated redis-server so that other tests' traffic does not count.
 */
export async function countRoundTrips(
  app: VerityApp,
  redisUrl: string,
  work: () => Promise<unknown>,
) {
  const client = app.internals.connection.getClient();
  const mongo: string[] = [];
  const onCommand = (event: { commandName: string }) => mongo.push(event.commandName);
  client.on('commandStarted', onCommand);

  // MONITOR on a plain socket: ioredis's monitor mode starts a microtask after MONITOR's reply,
  // and a command logged in that gap (a heartbeat, a waitlist tick) fails its command queue.
  // On a Redis Cluster, every master is watched (replicas only repeat what their master ran).
  const nodes = app.internals.redis.cluster
    ? app.internals.redis
        .masters()
        .map((master) => `redis://${master.options.host}:${master.options.port}`)
    : [redisUrl];
  const redis: string[] = [];
  const markers = new Set<string>();
  const monitors = await Promise.all(
    nodes.map((node, n) =>
      openMonitor(node, (command, source, line) => {
        if (source === 'lua') return;
        const name = command.toLowerCase();
        // Upkeep, not the work's: a cluster client's topology (CLUSTER SLOTS every 2 s) and the
        // read model's check of its marker and of Redis's run id (GET, INFO every 2 s).
        if (name === 'cluster' || name === 'info' || (name === 'get' && line.includes('ready@')))
          return;
        if (name === 'ping') {
          // Markers below, and subscriber heartbeats: neither is the work's.
          const marker = /"ping" "(marker-\w+)"/i.exec(line)?.[1];
          if (marker) markers.add(`${n}:${marker}`);
          return;
        }
        redis.push(name);
      }),
    ),
  );
  // MONITOR's lines arrive on their own connection: a marker command logged after everything
  // before it tells when they have all arrived.
  const marked = nodes.map((node) => new Redis(node));
  const mark = async (name: string) => {
    await Promise.all(marked.map((marker) => marker.ping(name)));
    await waitUntil(() => nodes.every((_, n) => markers.has(`${n}:${name}`)));
  };
  await mark('marker-before');
  redis.length = 0;

  try {
    await work();
    await mark('marker-after');
  } finally {
    client.off('commandStarted', onCommand);
    for (const monitor of monitors) monitor.destroy();
    for (const marker of marked) marker.disconnect();
  }
  return {
    mongo: mongo.length,
    mongoCommands: mongo,
    redis: redis.length,
    redisCommands: redis,
  };
}

async function waitUntil(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('MONITOR did not catch up');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * A MONITOR connection: calls `onCommand` with each command's name, its source ('lua' or a
 * client's address) and the whole logged line.
 */
async function openMonitor(
  redisUrl: string,
  onCommand: (command: string, source: string, line: string) => void,
): Promise<Socket> {
  const { hostname, port } = new URL(redisUrl);
  const socket = connect({ host: hostname, port: Number(port) });
  let pending = '';
  let started!: () => void;
  const ok = new Promise<void>((resolve) => {
    started = resolve;
  });
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    let end: number;
    while ((end = pending.indexOf('\r\n')) >= 0) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 2);
      if (line === '+OK') started();
      // +<time> [<db> <source>] "<command>" "<arg>" ...
      const match = /^\+\d+\.\d+ \[\d+ (\S+)\] "([^"]*)"/.exec(line);
      if (match) onCommand(match[2]!, match[1]!, line);
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write('MONITOR\r\n');
  await ok;
  return socket;
}
