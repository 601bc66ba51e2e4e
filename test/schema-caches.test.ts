import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { errorCodes, uniqueUsername } from './helpers/graphql.js';
import { useVerity } from './helpers/server.js';
import { act, channelReady, post, react } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';

const publicUrl = 'https://verity.example/social';

describe('a schema for client caches', () => {
  const admin = uniqueUsername('adm');
  const verity = useVerity({ env: { PUBLIC_URL: `${publicUrl}/`, ADMIN_USERNAMES: admin } });

  describe('TruthCounts', () => {
    const countsEvents = /* GraphQL */ `
      subscription ($id: ID!) {
        truthCountsChanged(truthId: $id) {
          __typename
          id
          truthId
          reactions
        }
      }
    `;

    it('has one id per truth, the same in Truth.counts, every truthCountsChanged event and node(id:)', async () => {
      const author = await verity.signUp();
      const fan = await verity.signUp();
      const truth = await post(verity, author.token, 'counted');
      const other = await post(verity, author.token, 'counted elsewhere');

      const query = `query($id: ID!) { truth(id: $id) { counts { __typename id truthId reactions } } }`;
      const queried = (await verity.gql(query, { id: truth.id })).data!['truth'].counts;
      expect(queried).toMatchObject({ __typename: 'TruthCounts', truthId: truth.id, reactions: 0 });
      const countsId = queried.id as string;
      expect(countsId).not.toBe(truth.id);
      const elsewhere = (await verity.gql(query, { id: other.id })).data!['truth'].counts;
      expect(elsewhere.id).not.toBe(countsId);

      const events = verity.subscribe(verity.connect(fan.token), countsEvents, { id: truth.id });
      expect((await events.next()).data!['truthCountsChanged']).toEqual(queried);
      await react(verity, fan.token, truth.id, 'LOVE');
      expect((await events.next()).data!['truthCountsChanged']).toEqual({
        ...queried,
        reactions: 1,
      });

      // A cache reading the counts back through the answer of `react` finds the same object.
      const reacted = await verity.gql(
        `mutation($id: ID!) { react(input: { truthId: $id, kind: LIKE }) { truth { counts { id reactions } } } }`,
        { id: truth.id },
        { token: author.token },
      );
      expect(reacted.data!['react'].truth.counts).toEqual({ id: countsId, reactions: 2 });
      expect((await events.next()).data!['truthCountsChanged']).toMatchObject({
        id: countsId,
        reactions: 2,
      });
      events.close();

      const node = await verity.gql(
        `query($id: ID!) { node(id: $id) { __typename id ... on TruthCounts { truthId reactions } } }`,
        { id: countsId },
      );
      expect(node.data!['node']).toEqual({
        __typename: 'TruthCounts',
        id: countsId,
        truthId: truth.id,
        reactions: 2,
      });
    });
  });

  describe('markNotificationsRead', () => {
    const mark = /* GraphQL */ `
      mutation ($input: MarkNotificationsReadInput!) {
        markNotificationsRead(input: $input) {
          notifications {
            __typename
            id
            kind
            read
            actor {
              username
            }
          }
          unreadCount
        }
      }
    `;
    const list = `{ notifications(first: 10) { unreadCount edges { node { id kind read } } } }`;
    /** The account's notifications once `unread` of them are unread. */
    const listWhenUnread = (token: string, unread: number) =>
      waitFor(async () => {
        const result = (await verity.gql(list, {}, { token })).data!['notifications'];
        return result.unreadCount === unread ? result : null;
      });
    /** A new account with three unread notifications from a fan: followed, reacted, replied. */
    const notified = async () => {
      const me = await verity.signUp();
      const fan = await verity.signUp();
      const mine = await post(verity, me.token, 'notice me');
      await act(verity, fan.token, 'follow', me.id);
      await react(verity, fan.token, mine.id, 'WOW');
      await post(verity, fan.token, 'a reply', { replyToId: mine.id });
      return { me, fan, page: await listWhenUnread(me.token, 3) };
    };

    it('answers with the notifications it marked, now read, and the unread count', async () => {
      const { me, fan, page } = await notified();
      const [replied, reacted, followed] = page.edges.map(
        (edge: { node: { id: string; kind: string } }) => edge.node,
      );
      expect([replied.kind, reacted.kind, followed.kind]).toEqual([
        'REPLIED',
        'REACTED',
        'FOLLOWED',
      ]);

      // A notification of someone else's is neither marked nor shown.
      const theirs = await post(verity, fan.token, 'theirs');
      await react(verity, me.token, theirs.id, 'LIKE');
      const fanList = await listWhenUnread(fan.token, 1);
      const theirId = fanList.edges[0].node.id as string;

      const byIds = await verity.gql(
        mark,
        { input: { ids: [replied.id, reacted.id, theirId] } },
        { token: me.token },
      );
      expect(byIds.errors).toBeUndefined();
      expect(byIds.data!['markNotificationsRead']).toEqual({
        notifications: [
          {
            __typename: 'Notification',
            id: replied.id,
            kind: 'REPLIED',
            read: true,
            actor: { username: fan.username },
          },
          {
            __typename: 'Notification',
            id: reacted.id,
            kind: 'REACTED',
            read: true,
            actor: { username: fan.username },
          },
        ],
        unreadCount: 1,
      });
      const fanAfter = (await verity.gql(list, {}, { token: fan.token })).data!['notifications'];
      expect(fanAfter.unreadCount).toBe(1);
      expect(fanAfter.edges[0].node).toMatchObject({ id: theirId, read: false });

      // A retry answers the same.
      const retry = await verity.gql(
        mark,
        { input: { ids: [replied.id, reacted.id] } },
        { token: me.token },
      );
      expect(retry.data!['markNotificationsRead']).toEqual({
        notifications: byIds.data!['markNotificationsRead'].notifications,
        unreadCount: 1,
      });

      // `all` marks, and lists, what was still unread.
      const all = await verity.gql(mark, { input: { all: true } }, { token: me.token });
      expect(all.data!['markNotificationsRead']).toEqual({
        notifications: [
          {
            __typename: 'Notification',
            id: followed.id,
            kind: 'FOLLOWED',
            read: true,
            actor: { username: fan.username },
          },
        ],
        unreadCount: 0,
      });
      const after = (await verity.gql(list, {}, { token: me.token })).data!['notifications'];
      expect(after.unreadCount).toBe(0);
      expect(after.edges.map((edge: { node: { read: boolean } }) => edge.node.read)).toEqual([
        true,
        true,
        true,
      ]);
    });

    it('marks all in one step, newest first, and answers only the count when only that is asked', async () => {
      const { me, page } = await notified();
      const all = await verity.gql(mark, { input: { all: true } }, { token: me.token });
      expect(all.errors).toBeUndefined();
      expect(
        all.data!['markNotificationsRead'].notifications.map((n: { id: string }) => n.id),
      ).toEqual(page.edges.map((edge: { node: { id: string } }) => edge.node.id));
      expect(all.data!['markNotificationsRead'].unreadCount).toBe(0);

      const other = await verity.signUp();
      await act(verity, other.token, 'follow', me.id);
      await listWhenUnread(me.token, 1);
      const counted = await verity.gql(
        `mutation { markNotificationsRead(input: { all: true }) { unreadCount } }`,
        {},
        { token: me.token },
      );
      expect(counted.errors).toBeUndefined();
      expect(counted.data).toEqual({ markNotificationsRead: { unreadCount: 0 } });
      const after = (await verity.gql(list, {}, { token: me.token })).data!['notifications'];
      expect(after.edges.map((edge: { node: { read: boolean } }) => edge.node.read)).toEqual([
        true,
        true,
        true,
        true,
      ]);
    });

    it('applies a read of all that a dead process left to what came before it, not after', async () => {
      const me = await verity.signUp();
      const early = await verity.signUp();
      const late = await verity.signUp();
      const { models, redis } = verity.app.internals;
      await act(verity, early.token, 'follow', me.id);
      await listWhenUnread(me.token, 1);
      // What a process killed right after storing a read of all leaves: the read, and the
      // journal entry it wrote before, now overdue.
      const readId = new Types.ObjectId();
      await models.NotificationRead.collection.insertOne({
        _id: readId,
        userId: new Types.ObjectId(userIdHex(me.id)),
        ids: null,
        at: new Date(),
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
      await act(verity, late.token, 'follow', me.id);
      await listWhenUnread(me.token, 2);
      await redis.command.zadd(
        `${redis.namespace}:journal`,
        Date.now() - 1,
        `read:${readId.toHexString()}`,
      );

      const [newest, oldest] = await waitFor(
        async () => {
          const result = (await verity.gql(list, {}, { token: me.token })).data!['notifications'];
          return result.unreadCount === 1 ? result.edges : null;
        },
        { timeoutMs: 20_000, message: 'the read was never applied' },
      );
      expect(newest.node).toMatchObject({ kind: 'FOLLOWED', read: false });
      expect(oldest.node).toMatchObject({ kind: 'FOLLOWED', read: true });
    });
  });

  describe('url fields', () => {
    it('gives users and truths web addresses under PUBLIC_URL, in queries, answers and events', async () => {
      const author = await verity.signUp();
      const reader = await verity.signUp();
      const profileUrl = `${publicUrl}/@${author.username}`;

      const user = await verity.gql(`query($u: String!) { user(username: $u) { url } }`, {
        u: author.username.toUpperCase(),
      });
      expect(user.data!['user']).toEqual({ url: profileUrl });

      const feed = verity.subscribe(
        verity.connect(reader.token),
        `subscription { publicFeedUpdated { ... on TruthPosted { truth { id url viewerHasRetruthed author { url } } } } }`,
      );
      await channelReady(verity, 'publicFeed:');
      const posted = await verity.gql(
        `mutation { postTruth(input: { text: "at an address" }) { truth { id url } } }`,
        {},
        { token: author.token },
      );
      const truth = posted.data!['postTruth'].truth as { id: string; url: string };
      expect(truth.url).toBe(`${profileUrl}/truths/${truth.id}`);

      expect((await feed.next()).data!['publicFeedUpdated'].truth).toEqual({
        id: truth.id,
        url: truth.url,
        viewerHasRetruthed: false,
        author: { url: profileUrl },
      });
      feed.close();

      // The last segment is the ID `truth(id:)` takes.
      const segment = truth.url.split('/').at(-1)!;
      const found = await verity.gql(`query($id: ID!) { truth(id: $id) { url } }`, {
        id: segment,
      });
      expect(found.data!['truth']).toEqual({ url: truth.url });
    });
  });

  describe('viewer', () => {
    const viewerQuery = `{ viewer { __typename id roles user { id username } } }`;

    it('tells an admin and a user their roles, and nobody without a session', async () => {
      const boss = await verity.signUp({ username: admin });
      const user = await verity.signUp();

      const asAdmin = (await verity.gql(viewerQuery, {}, { token: boss.token })).data!['viewer'];
      expect(asAdmin).toMatchObject({
        __typename: 'Viewer',
        // Every admin is a moderator too (modules/moderation).
        roles: ['USER', 'ADMIN', 'MODERATOR'],
        user: { id: boss.id, username: admin },
      });
      const asUser = (await verity.gql(viewerQuery, {}, { token: user.token })).data!['viewer'];
      expect(asUser).toMatchObject({ roles: ['USER'], user: { id: user.id } });
      expect(asUser.id).not.toBe(asAdmin.id);
      expect(asUser.id).not.toBe(user.id);

      // Another session of the same account is the same Viewer.
      const again = await verity.gql(
        `mutation($input: LogInInput!) { logIn(input: $input) { token } }`,
        { input: { login: user.username, password: user.password } },
      );
      const otherSession = again.data!['logIn'].token as string;
      expect((await verity.gql(viewerQuery, {}, { token: otherSession })).data!['viewer']).toEqual(
        asUser,
      );

      expect(await verity.gql(viewerQuery)).toMatchObject({ data: { viewer: null } });
    });
  });

  describe('relation mutations', () => {
    it('answer with both users, so both counts are fresh in a cache', async () => {
      const me = await verity.signUp();
      const them = await verity.signUp();
      const follow = await verity.gql(
        `mutation($id: ID!) { follow(input: { userId: $id }) {
           user { id followerCount viewerIsFollowing } me { id followingCount }
         } }`,
        { id: them.id },
        { token: me.token },
      );
      expect(follow.data!['follow']).toEqual({
        user: { id: them.id, followerCount: 1, viewerIsFollowing: true },
        me: { id: me.id, followingCount: 1 },
      });
    });
  });

  describe('waitlist objects', () => {
    it('keep one id per ticket and one for the waitlist stats', async () => {
      const boss = await verity.signUp({ username: admin }).catch(() => null);
      const token =
        boss?.token ??
        ((
          await verity.gql(`mutation($input: LogInInput!) { logIn(input: $input) { token } }`, {
            input: { login: admin, password: 'correct horse battery staple' },
          })
        ).data!['logIn'].token as string);

      const stats = await verity.gql(`{ waitlistStats { id paused } }`, {}, { token });
      const paused = await verity.gql(`mutation { pauseAdmissions { id paused } }`, {}, { token });
      expect(paused.data!['pauseAdmissions']).toEqual({
        id: stats.data!['waitlistStats'].id,
        paused: true,
      });

      const username = uniqueUsername('w');
      const joined = await verity.gql(
        `mutation($input: JoinWaitlistInput!) { joinWaitlist(input: $input) { id ticket ticketToken } }`,
        { input: { email: `${username}@example.com`, username } },
      );
      const ticket = joined.data!['joinWaitlist'];
      const second = uniqueUsername('w');
      const other = await verity.gql(
        `mutation($input: JoinWaitlistInput!) { joinWaitlist(input: $input) { id } }`,
        { input: { email: `${second}@example.com`, username: second } },
      );
      expect(other.data!['joinWaitlist'].id).not.toBe(ticket.id);
      const asked = await verity.gql(
        `query($t: String!) { waitlistTicket(ticketToken: $t) { id ticket } }`,
        { t: ticket.ticketToken },
      );
      expect(asked.data!['waitlistTicket']).toEqual({ id: ticket.id, ticket: ticket.ticket });
      // Not a node: a ticket is shown only to its token's holder.
      const node = await verity.gql(`query($id: ID!) { node(id: $id) { id } }`, { id: ticket.id });
      expect(errorCodes(node)).toEqual([]);
      expect(node.data!['node']).toBeNull();

      await verity.gql(`mutation { resumeAdmissions { paused } }`, {}, { token });
    });
  });
});
