import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVerity, uniqueDbName, type TestServer } from './helpers/server.js';
import { act, channelReady, post } from './helpers/social.js';
import type { TestUser } from './helpers/graphql.js';

const plain = /* GraphQL */ `
  subscription {
    publicFeedUpdated {
      ... on TruthPosted {
        cursor
        truth {
          id
          text
          hashtags
          author {
            username
            displayName
          }
          counts {
            reactions
            replies
          }
        }
      }
      ... on TruthDeleted {
        truthId
      }
    }
  }
`;

const perViewer = /* GraphQL */ `
  subscription {
    publicFeedUpdated {
      ... on TruthPosted {
        truth {
          id
          text
          author {
            username
            viewerIsFollowing
            followsViewer
          }
          viewerReaction
          viewerHasRetruthed
        }
      }
      ... on TruthDeleted {
        truthId
      }
    }
  }
`;

/**
 * Two instances on one database and one Redis: `shared` executes each event once per distinct
 * operation, compiled (graphql-jit), `unshared` once per subscriber, on graphql-js
 * (SUBSCRIPTION_SHARING=false, GRAPHQL_COMPILE_AFTER=0). The same viewers subscribe to both with
 * the same operations; every one of them must receive the same bytes.
 */
describe('shared subscription execution', () => {
  const dbName = uniqueDbName('sharing');
  let shared: TestServer;
  let unshared: TestServer;
  let poster: TestServer;

  beforeAll(async () => {
    shared = await startVerity({ dbName, monitorCommands: true });
    unshared = await startVerity({
      dbName,
      keepDatabase: true,
      env: { SUBSCRIPTION_SHARING: 'false', GRAPHQL_COMPILE_AFTER: '0' },
    });
    poster = await startVerity({ dbName, keepDatabase: true });
  });

  afterAll(async () => {
    await poster?.stop();
    await unshared?.stop();
    await shared?.stop();
  });

  it('delivers exactly what per-subscriber execution delivers, filtered and per viewer, with one execution per operation', async () => {
    const author = await poster.signUp();
    const muted = await poster.signUp();
    const viewers: TestUser[] = [];
    for (let i = 0; i < 4; i++) viewers.push(await poster.signUp());
    await act(poster, viewers[0]!.token, 'follow', author.id);
    await act(poster, author.token, 'follow', viewers[1]!.id);
    await act(poster, viewers[2]!.token, 'mute', author.id);
    for (const viewer of viewers) await act(poster, viewer.token, 'mute', muted.id);

    const subscribe = (server: TestServer, query: string) =>
      viewers.map((viewer) => server.subscribe(server.connect(viewer.token), query));
    const onShared = { plain: subscribe(shared, plain), perViewer: subscribe(shared, perViewer) };
    const onUnshared = {
      plain: subscribe(unshared, plain),
      perViewer: subscribe(unshared, perViewer),
    };
    await channelReady(shared, 'publicFeed:');
    await channelReady(unshared, 'publicFeed:');
    // Every subscription is live once its server has seen a first event: post one and drain it.
    await post(poster, viewers[3]!.token, 'warm-up');
    for (const list of [
      onShared.plain,
      onShared.perViewer,
      onUnshared.plain,
      onUnshared.perViewer,
    ]) {
      for (const subscription of list) await subscription.next();
    }

    const before = {
      shared: { ...shared.app.internals.live },
      unshared: { ...unshared.app.internals.live },
    };
    const mongoCommands: string[] = [];
    const client = shared.app.internals.connection.getClient();
    const onCommand = (event: { commandName: string }) => {
      mongoCommands.push(event.commandName);
    };
    client.on('commandStarted', onCommand);

    await post(poster, muted.token, 'from the muted: nobody sees this');
    await post(poster, author.token, 'one #shared');
    await post(poster, author.token, 'two');
    const sentinel = await post(poster, viewers[3]!.token, 'sentinel');

    const receivedUntilSentinel = async (subscription: (typeof onShared.plain)[number]) => {
      const events = [];
      for (;;) {
        const event = (await subscription.next()).data!['publicFeedUpdated'];
        events.push(event);
        if (event.truth?.id === sentinel.id) return events;
      }
    };
    for (let i = 0; i < viewers.length; i++) {
      const sharedPlain = await receivedUntilSentinel(onShared.plain[i]!);
      expect(sharedPlain).toEqual(await receivedUntilSentinel(onUnshared.plain[i]!));
      expect(await receivedUntilSentinel(onShared.perViewer[i]!)).toEqual(
        await receivedUntilSentinel(onUnshared.perViewer[i]!),
      );
      // Nobody gets the muted poster; the viewer who muted `author` gets only the sentinel.
      expect(sharedPlain.map((event) => event.truth.text)).toEqual(
        i === 2 ? ['sentinel'] : ['one #shared', 'two', 'sentinel'],
      );
    }
    client.off('commandStarted', onCommand);

    // Deliveries per operation: 3 + 3 + 1 + 3 = 10. Shared: each operation ran once for each of
    // the three events that reached anyone (the per-viewer one as a template, its per-viewer
    // leaves spliced in per subscriber).
    expect(shared.app.internals.live.executions - before.shared.executions).toBe(3 + 3);
    expect(unshared.app.internals.live.executions - before.unshared.executions).toBe(10 + 10);
    // And nothing was read from MongoDB to deliver them: per-viewer parts come from the read model.
    expect(mongoCommands).toEqual([]);

    // The per-viewer values are each viewer's own.
    await post(poster, author.token, 'three');
    const authors = await Promise.all(
      onShared.perViewer
        .slice(0, 2)
        .map(
          async (subscription) =>
            (await subscription.next()).data!['publicFeedUpdated'].truth.author,
        ),
    );
    expect(authors).toEqual([
      { username: author.username, viewerIsFollowing: true, followsViewer: false },
      { username: author.username, viewerIsFollowing: false, followsViewer: true },
    ]);
  });
});
