import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestUser } from './helpers/graphql.js';
import { subscriberCount } from './helpers/redis.js';
import { startVerity, uniqueDbName, type TestServer } from './helpers/server.js';
import { act, post, react } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';
import type { LiveSubscription } from './helpers/ws.js';

const relationFields = 'username viewerIsFollowing followsViewer viewerHasBlocked viewerHasMuted';

/** A live timeline card with every per-viewer leaf, some aliased, at two depths. */
const card = /* GraphQL */ `
  subscription {
    homeFeedUpdated {
      ... on TruthPosted {
        cursor
        truth {
          id
          text
          viewerReaction
          retruthed: viewerHasRetruthed
          counts { reactions byKind { kind count } }
          author { ${relationFields} email }
          quoteOf {
            id
            text
            mine: viewerReaction
            viewerReaction
            viewerHasRetruthed
            author { ${relationFields} ownEmail: email }
          }
        }
      }
      ... on TruthDeleted {
        truthId
      }
    }
  }
`;

const stateQuery = /* GraphQL */ `
  query($id: ID!) {
    truth(id: $id) {
      viewerReaction
      viewerHasRetruthed
      author { ${relationFields} }
    }
  }
`;

/** The six ways a viewer can stand towards the quoted truth and its author. */
const flags = ['reacted', 'retruthed', 'follows', 'followedBy', 'blocked', 'muted'] as const;
type Flag = (typeof flags)[number];

/**
 * Instance `spliced` delivers with splicing (one template execution per event, per-viewer
 * leaves spliced per subscriber); `reference` executes the operation for each subscriber on
 * graphql-js (SUBSCRIPTION_SHARING=false, GRAPHQL_COMPILE_AFTER=0). The same viewers subscribe
 * to both; each must receive the same results from both.
 */
describe('per-viewer fields in live results', () => {
  const dbName = uniqueDbName('personal');
  let spliced: TestServer;
  let reference: TestServer;
  let writer: TestServer;

  beforeAll(async () => {
    spliced = await startVerity({ dbName });
    reference = await startVerity({
      dbName,
      keepDatabase: true,
      env: { SUBSCRIPTION_SHARING: 'false', GRAPHQL_COMPILE_AFTER: '0' },
    });
    writer = await startVerity({ dbName, keepDatabase: true });
  });

  afterAll(async () => {
    await writer?.stop();
    await reference?.stop();
    await spliced?.stop();
  });

  it('equal executing the operation for each subscriber, over every combination of viewer state, before and after changes', async () => {
    const author = await writer.signUp();
    const quoted = await writer.signUp();
    const original = await post(writer, quoted.token, 'the quoted truth');

    // One viewer per combination of the six flags, each following `author` (so the home feed
    // carries its truths); plus `quoted` and `author` themselves (their own email is theirs).
    const viewers: { user: TestUser; has: Set<Flag> }[] = [];
    for (let mask = 0; mask < 2 ** flags.length; mask++) {
      const has = new Set(flags.filter((_flag, bit) => mask & (1 << bit)));
      viewers.push({ user: await writer.signUp(), has });
    }
    viewers.push({ user: quoted, has: new Set() }, { user: author, has: new Set() });
    const gqlOk = async (token: string, query: string, variables: Record<string, unknown>) => {
      const result = await writer.gql(query, variables, { token });
      expect(result.errors).toBeUndefined();
    };
    await Promise.all(
      viewers.map(async ({ user, has }) => {
        if (user !== author) await act(writer, user.token, 'follow', author.id);
        if (has.has('reacted')) await react(writer, user.token, original.id, 'HAHA');
        if (has.has('retruthed'))
          await gqlOk(
            user.token,
            'mutation($input: RetruthInput!) { retruth(input: $input) { retruth { id } } }',
            {
              input: { truthId: original.id },
            },
          );
        if (has.has('follows')) await act(writer, user.token, 'follow', quoted.id);
        if (has.has('followedBy')) await act(writer, quoted.token, 'follow', user.id);
        if (has.has('blocked')) await act(writer, user.token, 'block', quoted.id);
        if (has.has('muted')) await act(writer, user.token, 'mute', quoted.id);
      }),
    );

    const subscriptions = viewers.map(({ user }) => ({
      spliced: spliced.subscribe(spliced.connect(user.token), card),
      reference: reference.subscribe(reference.connect(user.token), card),
    }));
    // Both instances listen for every viewer's home feed.
    const redis = writer.app.internals.redis;
    await waitFor(async () => {
      for (const { user } of viewers) {
        for (const server of [spliced, reference]) {
          if (!server.app.internals.bus.hasListener('homeFeed', userIdHex(user.id))) return false;
        }
      }
      return (await subscriberCount(redis, writer.app.internals.bus.routeChannel('homeFeed'))) >= 2;
    });

    const executionsBefore = spliced.app.internals.live.executions;
    await post(writer, author.token, 'first quote', { quoteOfId: original.id });

    // Between the two events: reactions set, changed and removed; follows both ways toggled.
    // (Who blocked the quoted author may not interact with it, nor follow or be followed.)
    const changed = viewers
      .slice(0, 2 ** flags.length)
      .filter(({ has }, i) => i % 3 !== 2 && !has.has('blocked'));
    await Promise.all(
      changed.map(async ({ user, has }, i) => {
        if (i % 2 === 0) await react(writer, user.token, original.id, 'LOVE');
        else
          await gqlOk(
            user.token,
            'mutation($input: RemoveReactionInput!) { removeReaction(input: $input) { truth { id } } }',
            {
              input: { truthId: original.id },
            },
          );
        await act(writer, user.token, has.has('follows') ? 'unfollow' : 'follow', quoted.id);
        await act(writer, quoted.token, has.has('followedBy') ? 'unfollow' : 'follow', user.id);
      }),
    );
    // Every instance sees the changes before the next event (its in-process copies are told
    // of them asynchronously).
    await waitFor(async () => {
      for (const { user } of changed) {
        const [truth, onSpliced, onReference] = await Promise.all(
          [writer, spliced, reference].map(async (server) =>
            JSON.stringify(
              (await server.gql(stateQuery, { id: original.id }, { token: user.token })).data,
            ),
          ),
        );
        if (onSpliced !== truth || onReference !== truth) return false;
      }
      return true;
    });
    await post(writer, author.token, 'second quote', { quoteOfId: original.id });
    const sentinel = await post(writer, author.token, 'sentinel');

    const untilSentinel = async (subscription: LiveSubscription) => {
      const events = [];
      for (;;) {
        const event = (await subscription.next()).data!['homeFeedUpdated'];
        events.push(event);
        if (event.truth?.id === sentinel.id) return events;
      }
    };
    const delivered = [];
    for (const [i, pair] of subscriptions.entries()) {
      const events = await untilSentinel(pair.spliced);
      expect(events, `viewer ${i}`).toEqual(await untilSentinel(pair.reference));
      delivered.push(events);
    }

    // Not two identical mistakes: the values are each viewer's own, before and after.
    for (const [i, { has }] of viewers.slice(0, 2 ** flags.length).entries()) {
      const [first, second] = delivered[i]!.map((event) => event.truth.quoteOf);
      // A viewer who blocked or muted the quoted author still sees quotes of them here.
      expect(first.viewerReaction, `viewer ${i}`).toBe(has.has('reacted') ? 'HAHA' : null);
      expect(first.mine).toBe(first.viewerReaction);
      expect(first.viewerHasRetruthed).toBe(has.has('retruthed'));
      expect(first.author).toEqual({
        username: quoted.username,
        // A block ends the follows both ways.
        viewerIsFollowing: has.has('follows') && !has.has('blocked'),
        followsViewer: has.has('followedBy') && !has.has('blocked'),
        viewerHasBlocked: has.has('blocked'),
        viewerHasMuted: has.has('muted'),
        ownEmail: null,
      });
      const change = changed.findIndex((viewer) => viewer === viewers[i]);
      if (change >= 0) {
        expect(second.viewerReaction).toBe(change % 2 === 0 ? 'LOVE' : null);
        expect(second.author.viewerIsFollowing).toBe(!has.has('follows'));
        expect(second.author.followsViewer).toBe(!has.has('followedBy'));
      } else expect(second).toEqual(first);
    }
    const own = delivered[viewers.length - 2]![0].truth.quoteOf.author;
    expect(own.ownEmail).toBe(quoted.email.toLowerCase());

    // One template execution per event on the splicing instance, not one per subscriber.
    expect(spliced.app.internals.live.executions - executionsBefore).toBe(3);
    for (const pair of subscriptions) {
      pair.spliced.close();
      pair.reference.close();
    }
  });
});
