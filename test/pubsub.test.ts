import { afterAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../src/infra/logger.js';
import { createEventBus } from '../src/infra/pubsub.js';
import { createRedisClients } from '../src/infra/redis.js';
import { subscriberCount } from './helpers/redis.js';
import { uniqueDbName } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

interface Topics {
  inbox: { n: number };
  plain: { n: number };
}

/** Addressed topics on a real Redis: two buses stand for two instances. */
describe('event bus, addressed topics', () => {
  const logger = createLogger({ level: 'silent', name: 'pubsub-test' });
  const namespace = `test:${uniqueDbName('bus')}`;
  const clients = [0, 1].map(() =>
    createRedisClients({ url: inject('redisUrl'), namespace, logger }),
  );
  const [one, two] = clients.map((redis) =>
    createEventBus<Topics>({ redis, logger, addressed: ['inbox'] }),
  ) as [ReturnType<typeof createEventBus<Topics>>, ReturnType<typeof createEventBus<Topics>>];
  afterAll(async () => {
    one.close();
    two.close();
    await Promise.all(clients.map((redis) => redis.quit()));
  });

  it('delivers one message for many keys to the listeners of each key, on every instance, parsed once', async () => {
    const got: { bus: string; key: string; payload: object }[] = [];
    const listen = (bus: typeof one, name: string, key: string) =>
      bus.subscribe('inbox', key, (payload) => got.push({ bus: name, key, payload }));
    const subscriptions = [
      listen(one, 'one', 'a'),
      listen(one, 'one', 'a'),
      listen(one, 'one', 'b'),
      listen(two, 'two', 'c'),
    ];
    await Promise.all(subscriptions.map((subscription) => subscription.ready));
    // Both instances listen on the one route channel, not on a channel per key.
    const route = one.routeChannel('inbox');
    expect(await subscriberCount(clients[0]!, route)).toBe(2);
    expect(one.hasListener('inbox', 'a')).toBe(true);
    expect(one.hasListener('inbox', 'c')).toBe(false);

    await one.publishMany('inbox', ['a', 'c', 'nobody'], { n: 1 });
    await two.publish('inbox', 'b', { n: 2 });
    await waitFor(() => got.length === 4);
    expect(got.map(({ bus, key, payload }) => [bus, key, payload])).toEqual(
      expect.arrayContaining([
        ['one', 'a', { n: 1 }],
        ['one', 'a', { n: 1 }],
        ['two', 'c', { n: 1 }],
        ['one', 'b', { n: 2 }],
      ]),
    );
    // One parse per message per instance: both listeners of `a` hold the same object.
    const ofA = got.filter(({ key }) => key === 'a');
    expect(ofA[0]!.payload).toBe(ofA[1]!.payload);

    // The route channel is left with the last key.
    for (const subscription of subscriptions) subscription.unsubscribe();
    await waitFor(async () => {
      return (await subscriberCount(clients[0]!, route)) === 0;
    });
  });

  it('gives the route messages of one publication (the same text, moments apart) one event, and a later equal one its own', async () => {
    const got: { key: string; payload: object }[] = [];
    const subscriptions = ['d', 'e', 'f'].map((key) =>
      one.subscribe('inbox', key, (payload) => got.push({ key, payload })),
    );
    await Promise.all(subscriptions.map((subscription) => subscription.ready));
    // A fan-out writes its recipients in steps, each step announcing its own on the route
    // channel with the same event text.
    await two.publishMany('inbox', ['d'], { n: 3 });
    await two.publishMany('inbox', ['e'], { n: 3 });
    await two.publishMany('inbox', ['f'], { n: 4 });
    await waitFor(() => got.length === 3);
    const [d, e, f] = got.map(({ payload }) => payload);
    expect(got.map(({ key }) => key)).toEqual(['d', 'e', 'f']);
    expect(d).toBe(e);
    expect(f).toEqual({ n: 4 });

    // The same text more than a second later is another publication.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await two.publishMany('inbox', ['d'], { n: 4 });
    await waitFor(() => got.length === 4);
    expect(got[3]!.payload).toEqual({ n: 4 });
    expect(got[3]!.payload).not.toBe(f);
    for (const subscription of subscriptions) subscription.unsubscribe();
  });

  it('keeps topics that are not addressed on a channel per key', async () => {
    const got: number[] = [];
    const subscription = two.subscribe('plain', 'k', ({ n }) => got.push(n));
    await subscription.ready;
    expect(await subscriberCount(clients[0]!, one.channel('plain', 'k'))).toBe(1);
    await one.publish('plain', 'k', { n: 3 });
    await waitFor(() => got.length === 1);
    expect(got).toEqual([3]);
    subscription.unsubscribe();
  });
});
