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

  // `monitor()` opens a second connection in monitor mode; both are closed below.
  const base = new Redis(redisUrl);
  const monitor = await base.monitor();
  const redis: string[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua') redis.push(String(args[0]).toLowerCase());
  });
  // MONITOR itself is asynchronous: make sure it sees a marker before the work starts.
  const marker = new Redis(redisUrl);
  await marker.ping('before');
  await waitUntil(() => redis.includes('ping'));
  redis.length = 0;

  try {
    await work();
    await marker.ping('after');
    await waitUntil(() => redis.includes('ping'));
  } finally {
    client.off('commandStarted', onCommand);
    monitor.disconnect();
    base.disconnect();
    marker.disconnect();
  }
  return {
    mongo: mongo.length,
    mongoCommands: mongo,
    redis: redis.filter((command) => command !== 'ping').length,
    redisCommands: redis.filter((command) => command !== 'ping'),
  };
}

async function waitUntil(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('MONITOR did not catch up');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
