import { describe, expect, it } from 'vitest';
import { uniqueUsername } from './helpers/graphql.js';
import { useVerity } from './helpers/server.js';
import { act, feed, post, react } from './helpers/social.js';

/**
 * On the embedded database every read scans its whole collection, so no request may read a
 * collection that grows with the network: MongoDB receives inserts, and reads only the
 * waitlist's three state documents. Everything else comes from the read model in Redis.
 */
describe('the hot paths', () => {
  const admin = uniqueUsername('adm');
  const verity = useVerity({
    monitorCommands: true,
    env: { ADMIN_USERNAMES: admin, WAITLIST_ADMISSION_RATE_PER_MINUTE: '0' },
  });

  /** Runs `work` and returns every MongoDB command it sent, as `<command> <collection>`. */
  const mongoCommands = async (work: () => Promise<void>): Promise<string[]> => {
    const client = verity.app.internals.connection.getClient();
    const seen: string[] = [];
    const listener = (event: { commandName: string; command: Record<string, unknown> }) => {
      seen.push(`${event.commandName} ${String(event.command[event.commandName])}`);
    };
    client.on('commandStarted', listener);
    try {
      await work();
    } finally {
      client.off('commandStarted', listener);
    }
    return seen;
  };

  const gql = async (query: string, variables: Record<string, unknown>, token?: string) => {
    const result = await verity.gql(query, variables, { token });
    expect(result.errors).toBeUndefined();
    return result.data!;
  };

  it('read no collection that grows with the network: only inserts, and the waitlist’s state', async () => {
    const boss = await verity.signUp({ username: admin });
    const alice = await verity.signUp();
    const bob = await verity.signUp();
    const seed = await post(verity, bob.token, 'an earlier truth #launch');

    const commands = await mongoCommands(async () => {
      const carol = await verity.signUp();
      await gql('mutation($i: LogInInput!) { logIn(input: $i) { token } }', {
        i: { login: alice.username, password: alice.password },
      });
      await gql('query($u: String!) { user(username: $u) { id truthCount } }', {
        u: `nobody_${alice.username}`,
      });
      await act(verity, alice.token, 'follow', bob.id);
      await act(verity, carol.token, 'follow', alice.id);
      await act(verity, alice.token, 'unfollow', bob.id);
      await act(verity, alice.token, 'follow', bob.id);
      await act(verity, alice.token, 'mute', carol.id);
      await react(verity, alice.token, seed.id, 'LIKE');
      await react(verity, alice.token, seed.id, 'LOVE');
      await gql(
        'mutation($i: RemoveReactionInput!) { removeReaction(input: $i) { truth { id } } }',
        { i: { truthId: seed.id } },
        alice.token,
      );
      const reply = await post(verity, alice.token, `@${bob.username} replying #launch`, {
        replyToId: seed.id,
        idempotencyKey: 'reply-1',
      });
      await post(verity, alice.token, 'a quote', { quoteOfId: seed.id });
      await gql(
        'mutation($id: ID!) { retruth(input: { truthId: $id }) { retruth { id } } }',
        { id: seed.id },
        carol.token,
      );
      await gql(
        'mutation($id: ID!) { undoRetruth(input: { truthId: $id }) { original { id } } }',
        { id: seed.id },
        carol.token,
      );
      await gql(
        'mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }',
        { id: reply.id },
        alice.token,
      );
      // Edits, bookmarks and pins, and what shows them.
      await gql(
        'mutation($i: EditTruthInput!) { editTruth(input: $i) { truth { editedAt } } }',
        { i: { id: seed.id, text: `an edited truth #launch @${alice.username}` } },
        bob.token,
      );
      await gql('query($id: ID!) { truth(id: $id) { text editedAt edits { text } } }', {
        id: seed.id,
      });
      for (const field of ['bookmarkTruth', 'unbookmarkTruth', 'bookmarkTruth']) {
        await gql(
          `mutation($id: ID!) { ${field}(input: { truthId: $id }) { truth { viewerHasBookmarked } } }`,
          { id: seed.id },
          alice.token,
        );
      }
      await gql(
        '{ bookmarks(first: 5) { edges { node { id viewerHasBookmarked } } } }',
        {},
        alice.token,
      );
      for (const field of ['pinTruth', 'unpinTruth', 'pinTruth']) {
        await gql(
          `mutation($id: ID!) { ${field}(input: { truthId: $id }) { pinnedTruths { id } } }`,
          { id: seed.id },
          bob.token,
        );
      }
      await gql('query($u: String!) { user(username: $u) { pinnedTruths { text } } }', {
        u: bob.username,
      });
      await gql(
        'mutation { updateProfile(input: { bio: "hot paths only" }) { bio } }',
        {},
        alice.token,
      );
      const truths = `query($u: String!, $after: String) {
        user(username: $u) { followerCount followingCount truthCount
          truths(first: 1, after: $after) { edges { cursor node { text } } } } }`;
      const first = await gql(truths, { u: bob.username });
      await gql(truths, { u: bob.username, after: first['user'].truths.edges[0]?.cursor ?? null });
      await feed(verity, 'homeFeed', { token: alice.token });
      await feed(verity, 'publicFeed', {});
      await feed(verity, 'hashtagFeed', { tag: 'launch' });
      await gql(
        'query($id: ID!) { thread(id: $id) { ancestors { id } replies { edges { node { id } } } } }',
        { id: seed.id },
      );
      // Search and discover.
      await gql('query($q: String!) { searchUsers(query: $q) { username followerCount } }', {
        q: alice.username.slice(0, 4),
      });
      await gql('{ searchHashtags(prefix: "lau") { tag truthCount } }', {});
      await gql('{ trends { hashtags { tag score } truths { score truth { text } } } }', {});
      await gql('{ suggestedAccounts { username } }', {}, carol.token);
      await gql('{ notifications { unreadCount edges { node { kind read } } } }', {}, bob.token);
      await gql(
        'mutation { markNotificationsRead(input: { all: true }) { unreadCount } }',
        {},
        bob.token,
      );

      // The waitlist: a join, an admission tick, completing sign-up.
      const email = `${uniqueUsername('late')}@example.com`;
      const joined = await gql(
        'mutation($i: JoinWaitlistInput!) { joinWaitlist(input: $i) { ticketToken } }',
        { i: { email, username: uniqueUsername('late') } },
      );
      await gql('mutation { admitNext(count: 1) { admittedThrough } }', {}, boss.token);
      await gql('mutation($i: CompleteSignUpInput!) { completeSignUp(input: $i) { token } }', {
        i: { ticketToken: joined['joinWaitlist'].ticketToken, password: 'a fine passphrase 42' },
      });

      // Moderation: reports, the queue, a resolution, a removal, a suspension and its end
      // (feeds filtered, a refused log-in), a role, the log.
      const report = await gql(
        'mutation($i: ReportTruthInput!) { reportTruth(input: $i) { report { id } } }',
        { i: { id: seed.id, reason: 'SPAM' } },
        alice.token,
      );
      await gql(
        'mutation($i: ReportUserInput!) { reportUser(input: $i) { report { id } } }',
        { i: { id: bob.id, reason: 'ABUSE', note: 'again and again' } },
        alice.token,
      );
      await gql(
        '{ moderationQueue(first: 10) { edges { node { id openReportsOnTarget reporter { username } target { __typename } } } } }',
        {},
        boss.token,
      );
      await gql(
        'mutation($i: ResolveReportInput!) { resolveReport(input: $i) { report { status } } }',
        { i: { id: report['reportTruth'].report.id, action: 'DISMISS' } },
        boss.token,
      );
      const spam = await post(verity, carol.token, 'spam #launch');
      await gql(
        'mutation($i: RemoveTruthInput!) { removeTruth(input: $i) { removedTruthId } }',
        { i: { id: spam.id } },
        boss.token,
      );
      await gql(
        'mutation($i: SuspendUserInput!) { suspendUser(input: $i) { suspended } }',
        { i: { id: carol.id } },
        boss.token,
      );
      await feed(verity, 'homeFeed', { token: alice.token });
      await feed(verity, 'hashtagFeed', { tag: 'launch' });
      const refused = await verity.gql('mutation($i: LogInInput!) { logIn(input: $i) { token } }', {
        i: { login: carol.username, password: carol.password },
      });
      expect(refused.errors?.[0]?.extensions?.code).toBe('ACCOUNT_SUSPENDED');
      await gql(
        'mutation($i: SuspendUserInput!) { unsuspendUser(input: $i) { suspended } }',
        { i: { id: carol.id } },
        boss.token,
      );
      await gql(
        'mutation($i: SetRoleInput!) { setRole(input: $i) { role } }',
        { i: { userId: bob.id, role: 'MODERATOR' } },
        boss.token,
      );
      await gql('{ viewer { roles } }', {}, bob.token);
      await gql(
        '{ moderationLog(first: 10) { edges { node { action actor { username } } } } }',
        {},
        boss.token,
      );
    });

    const allowed = (command: string) =>
      command.startsWith('insert ') ||
      / waitliststate$/.test(command) ||
      /^(ping|hello|isMaster|endSessions) /.test(command);
    expect(commands.filter((command) => !allowed(command))).toEqual([]);
    // It did write what it was asked to.
    expect(commands.filter((command) => command.startsWith('insert ')).length).toBeGreaterThan(20);
  });
});
