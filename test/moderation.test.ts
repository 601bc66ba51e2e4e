import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { errorCodes, uniqueUsername, type TestUser } from './helpers/graphql.js';
import { useVerities, useVerity, type TestServer } from './helpers/server.js';
import {
  act,
  channelReady,
  feed,
  feedTexts,
  homeChannel,
  loseRedisKeys,
  post,
} from './helpers/social.js';

const reportTruth = /* GraphQL */ `
  mutation ($i: ReportTruthInput!) {
    reportTruth(input: $i) {
      report {
        id
        status
        reason
        note
        openReportsOnTarget
        target {
          __typename
          ... on Truth {
            id
          }
        }
        account {
          username
        }
      }
    }
  }
`;

const reportUser = /* GraphQL */ `
  mutation ($i: ReportUserInput!) {
    reportUser(input: $i) {
      report {
        id
        status
        target {
          __typename
          ... on User {
            id
          }
        }
      }
    }
  }
`;

const queue = /* GraphQL */ `
  query ($first: Int, $after: String) {
    moderationQueue(first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          reason
          note
          status
          openReportsOnTarget
          reporter {
            username
          }
          account {
            username
          }
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`;

const resolve = /* GraphQL */ `
  mutation ($i: ResolveReportInput!) {
    resolveReport(input: $i) {
      report {
        id
        status
        openReportsOnTarget
        resolution {
          action
          note
          moderator {
            username
          }
        }
      }
    }
  }
`;

const suspend = /* GraphQL */ `
  mutation ($i: SuspendUserInput!) {
    suspendUser(input: $i) {
      user {
        username
      }
      suspended
    }
  }
`;

const unsuspend = /* GraphQL */ `
  mutation ($i: SuspendUserInput!) {
    unsuspendUser(input: $i) {
      user {
        username
      }
      suspended
    }
  }
`;

const removeTruth = /* GraphQL */ `
  mutation ($i: RemoveTruthInput!) {
    removeTruth(input: $i) {
      removedTruthId
    }
  }
`;

const setRole = /* GraphQL */ `
  mutation ($i: SetRoleInput!) {
    setRole(input: $i) {
      user {
        username
      }
      role
    }
  }
`;

const log = /* GraphQL */ `
  query ($first: Int, $after: String) {
    moderationLog(first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          action
          note
          resolution
          reason
          role
          createdAt
          actor {
            username
          }
          targetUser {
            username
          }
          targetTruth {
            id
          }
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`;

const homeUpdates = /* GraphQL */ `
  subscription {
    homeFeedUpdated {
      __typename
      ... on TruthPosted {
        truth {
          id
        }
      }
      ... on TruthDeleted {
        truthId
      }
    }
  }
`;

const logIn = (server: TestServer, user: TestUser) =>
  server.gql('mutation($i: LogInInput!) { logIn(input: $i) { token } }', {
    i: { login: user.username, password: user.password },
  });

/** A graphql-ws socket signed in with `token`; `closed` resolves with its close code. */
async function openSocket(server: TestServer, token: string) {
  const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.on('open', () =>
      socket.send(
        JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }),
      ),
    );
    socket.on('message', (data: Buffer) => {
      if (data.toString().includes('connection_ack')) resolve();
    });
    void closed.then(({ code }) => reject(new Error(`closed with ${code} before the ack`)));
  });
  return { socket, closed };
}

describe('reports and moderation', () => {
  const adminName = uniqueUsername('adm');
  const moderatorName = uniqueUsername('mod');
  const verity = useVerity({
    env: { ADMIN_USERNAMES: adminName, MODERATOR_USERNAMES: moderatorName },
  });

  /** Runs an operation that must succeed and returns its data. */
  const ok = async (query: string, variables: Record<string, unknown>, token?: string) => {
    const result = await verity.gql(query, variables, { token });
    expect(result.errors).toBeUndefined();
    return result.data!;
  };

  let admin: TestUser;
  let moderator: TestUser;
  const staff = async () => {
    admin ??= await verity.signUp({ username: adminName });
    moderator ??= await verity.signUp({ username: moderatorName });
    return { admin, moderator };
  };

  it('a report reaches the queue once per reporter, and resolving it closes every open report on its target', async () => {
    const { moderator } = await staff();
    const author = await verity.signUp();
    const one = await verity.signUp();
    const two = await verity.signUp();
    const truth = await post(verity, author.token, 'buy followers cheap');

    const first = (
      await ok(reportTruth, { i: { id: truth.id, reason: 'SPAM', note: ' a bot ' } }, one.token)
    )['reportTruth'].report;
    expect(first).toMatchObject({
      status: 'OPEN',
      reason: 'SPAM',
      note: 'a bot',
      openReportsOnTarget: 1,
      target: { __typename: 'Truth', id: truth.id },
      account: { username: author.username },
    });
    // The same reporter again, while it is open: the same report, nothing new.
    const again = (await ok(reportTruth, { i: { id: truth.id, reason: 'ABUSE' } }, one.token))[
      'reportTruth'
    ].report;
    expect(again).toMatchObject({ id: first.id, reason: 'SPAM', openReportsOnTarget: 1 });
    const second = (await ok(reportTruth, { i: { id: truth.id, reason: 'ABUSE' } }, two.token))[
      'reportTruth'
    ].report;
    expect(second.openReportsOnTarget).toBe(2);
    const aboutUser = (
      await ok(reportUser, { i: { id: author.id, reason: 'HARASSMENT' } }, two.token)
    )['reportUser'].report;
    expect(aboutUser.target).toEqual({ __typename: 'User', id: author.id });

    // Bad reports change nothing.
    expect(
      errorCodes(await verity.gql(reportTruth, { i: { id: truth.id, reason: 'SPAM' } })),
    ).toEqual(['UNAUTHENTICATED']);
    expect(
      errorCodes(
        await verity.gql(
          reportTruth,
          { i: { id: truth.id, reason: 'SPAM', note: 'x'.repeat(1_001) } },
          { token: two.token },
        ),
      ),
    ).toEqual(['BAD_USER_INPUT']);
    expect(
      errorCodes(
        await verity.gql(
          reportTruth,
          { i: { id: truth.id, reason: 'SPAM' } },
          { token: author.token },
        ),
      ),
    ).toEqual(['BAD_USER_INPUT']);

    // The queue: oldest first, one row per report, in pages.
    const all: any[] = [];
    let after: string | null = null;
    for (;;) {
      const page: any = (await ok(queue, { first: 1, after }, moderator.token))['moderationQueue'];
      all.push(...page.edges.map((edge: any) => edge.node));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    const ours = all.filter((report) => [first.id, second.id, aboutUser.id].includes(report.id));
    expect(ours.map((report) => report.id)).toEqual([first.id, second.id, aboutUser.id]);
    expect(ours[0]).toMatchObject({
      reporter: { username: one.username },
      account: { username: author.username },
      openReportsOnTarget: 2,
    });

    const resolved = (
      await ok(
        resolve,
        { i: { id: second.id, action: 'DISMISS', note: 'ads, fine' } },
        moderator.token,
      )
    )['resolveReport'].report;
    expect(resolved).toMatchObject({
      status: 'RESOLVED',
      openReportsOnTarget: 0,
      resolution: {
        action: 'DISMISS',
        note: 'ads, fine',
        moderator: { username: moderator.username },
      },
    });
    const left = (await ok(queue, { first: 100 }, moderator.token))['moderationQueue'].edges.map(
      (edge: any) => edge.node.id,
    );
    expect(left).not.toContain(first.id);
    expect(left).not.toContain(second.id);
    expect(left).toContain(aboutUser.id);
    expect(
      errorCodes(
        await verity.gql(
          resolve,
          { i: { id: first.id, action: 'DISMISS' } },
          { token: moderator.token },
        ),
      ),
    ).toEqual(['CONFLICT']);
    expect(
      errorCodes(
        await verity.gql(
          resolve,
          { i: { id: aboutUser.id, action: 'REMOVE_TRUTH' } },
          { token: moderator.token },
        ),
      ),
    ).toEqual(['BAD_USER_INPUT']);

    // Once resolved, the same reporter may report the target again: a new report.
    const later = (await ok(reportTruth, { i: { id: truth.id, reason: 'SPAM' } }, one.token))[
      'reportTruth'
    ].report;
    expect(later.id).not.toBe(first.id);
    expect(later).toMatchObject({ status: 'OPEN', openReportsOnTarget: 1 });
  });

  it('refuses every moderation request of a non-moderator with FORBIDDEN and changes nothing', async () => {
    const { moderator } = await staff();
    const author = await verity.signUp();
    const someone = await verity.signUp();
    const truth = await post(verity, author.token, 'still standing #forbidden');
    const report = (await ok(reportTruth, { i: { id: truth.id, reason: 'SPAM' } }, someone.token))[
      'reportTruth'
    ].report;

    const attempts: [string, Record<string, unknown>][] = [
      [queue, { first: 5 }],
      [log, { first: 5 }],
      [resolve, { i: { id: report.id, action: 'REMOVE_TRUTH' } }],
      [removeTruth, { i: { id: truth.id } }],
      [suspend, { i: { id: author.id } }],
      [unsuspend, { i: { id: author.id } }],
      [setRole, { i: { userId: someone.id, role: 'MODERATOR' } }],
    ];
    for (const [query, variables] of attempts) {
      const result = await verity.gql(query, variables, { token: someone.token });
      expect(errorCodes(result)).toEqual(['FORBIDDEN']);
    }
    // Moderators do not grant roles nor read the log.
    for (const [query, variables] of attempts.slice(1, 2).concat(attempts.slice(-1))) {
      expect(errorCodes(await verity.gql(query, variables, { token: moderator.token }))).toEqual([
        'FORBIDDEN',
      ]);
    }
    expect(await feedTexts(verity, 'hashtagFeed', { tag: 'forbidden' })).toEqual([
      'still standing #forbidden',
    ]);
    expect((await logIn(verity, author)).errors).toBeUndefined();
    const open = (await ok(queue, { first: 100 }, moderator.token))['moderationQueue'].edges.map(
      (edge: any) => edge.node.id,
    );
    expect(open).toContain(report.id);
  });

  it('an admin grants and takes back the moderator role, which the viewer’s roles show', async () => {
    const { admin, moderator } = await staff();
    const helper = await verity.signUp();
    const roles = async (token: string) =>
      (await ok('{ viewer { roles } }', {}, token))['viewer'].roles;
    expect(await roles(helper.token)).toEqual(['USER']);
    expect(await roles(moderator.token)).toEqual(['USER', 'MODERATOR']);
    expect(await roles(admin.token)).toEqual(['USER', 'ADMIN', 'MODERATOR']);

    expect(
      (await ok(setRole, { i: { userId: helper.id, role: 'MODERATOR' } }, admin.token))['setRole'],
    ).toEqual({ user: { username: helper.username }, role: 'MODERATOR' });
    expect(await roles(helper.token)).toEqual(['USER', 'MODERATOR']);
    expect((await verity.gql(queue, { first: 1 }, { token: helper.token })).errors).toBeUndefined();

    await ok(setRole, { i: { userId: helper.id, role: 'USER' } }, admin.token);
    expect(await roles(helper.token)).toEqual(['USER']);
    expect(errorCodes(await verity.gql(queue, { first: 1 }, { token: helper.token }))).toEqual([
      'FORBIDDEN',
    ]);
    expect(
      errorCodes(
        await verity.gql(
          setRole,
          { i: { userId: helper.id, role: 'ADMIN' } },
          { token: admin.token },
        ),
      ),
    ).toEqual(['BAD_USER_INPUT']);
  });

  it('a suspension takes the account’s truths out of an open home feed live and out of every page, closes its sockets and refuses its log-in; lifting it brings them back', async () => {
    const { moderator } = await staff();
    const author = await verity.signUp();
    const reader = await verity.signUp();
    await act(verity, reader.token, 'follow', author.id);
    const root = await post(verity, reader.token, 'a thread of my own');
    const tag = `sus${Date.now()}`;
    const truths = [
      await post(verity, author.token, `first #${tag}`),
      await post(verity, author.token, `second #${tag}`),
    ];
    const reply = await post(verity, author.token, 'a reply', { replyToId: root.id });
    await post(verity, reader.token, `mine #${tag}`);

    const client = verity.connect(reader.token);
    const home = verity.subscribe(client, homeUpdates);
    await channelReady(verity, homeChannel(reader.id));
    const authorSocket = await openSocket(verity, author.token);

    expect(
      (await ok(suspend, { i: { id: author.id, note: 'spam wave' } }, moderator.token))[
        'suspendUser'
      ],
    ).toEqual({ user: { username: author.username }, suspended: true });

    // Live: a TruthDeleted for each of the author's truths, newest first.
    const deleted: string[] = [];
    for (let i = 0; i < 3; i++) {
      const update = (await home.next()).data!['homeFeedUpdated'];
      expect(update.__typename).toBe('TruthDeleted');
      deleted.push(update.truthId);
    }
    expect(deleted).toEqual([reply.id, truths[1]!.id, truths[0]!.id]);
    expect(await authorSocket.closed).toEqual({ code: 4441, reason: 'Session revoked' });

    // Pages: home, hashtag, public, the account's own and the thread's replies.
    expect(await feedTexts(verity, 'homeFeed', { token: reader.token })).toEqual([
      `mine #${tag}`,
      'a thread of my own',
    ]);
    expect(await feedTexts(verity, 'hashtagFeed', { tag })).toEqual([`mine #${tag}`]);
    const publicTexts = await feedTexts(verity, 'publicFeed', { first: 100 });
    expect(publicTexts).not.toContain(`first #${tag}`);
    const profile = `query($u: String!) { user(username: $u) { truths(first: 10) { edges { node { id } } } } }`;
    expect((await ok(profile, { u: author.username }))['user'].truths.edges).toEqual([]);
    const thread = `query($id: ID!) { thread(id: $id) { replies { edges { node { id } } } } }`;
    expect((await ok(thread, { id: root.id }))['thread'].replies.edges).toEqual([]);

    // No way in: a new log-in is refused, the old session is over.
    const refused = await logIn(verity, author);
    expect(errorCodes(refused)).toEqual(['ACCOUNT_SUSPENDED']);
    expect((await ok('{ viewer { id } }', {}, author.token))['viewer']).toBeNull();
    expect(
      errorCodes(
        await verity.gql(
          'mutation { updateProfile(input: { bio: "back" }) { bio } }',
          {},
          {
            token: author.token,
          },
        ),
      ),
    ).toEqual(['UNAUTHENTICATED']);
    // Suspending again changes nothing (no second log entry).
    await ok(suspend, { i: { id: author.id } }, moderator.token);

    expect(
      (await ok(unsuspend, { i: { id: author.id } }, moderator.token))['unsuspendUser'],
    ).toEqual({ user: { username: author.username }, suspended: false });
    expect(await feedTexts(verity, 'hashtagFeed', { tag })).toEqual([
      `mine #${tag}`,
      `second #${tag}`,
      `first #${tag}`,
    ]);
    expect((await ok(thread, { id: root.id }))['thread'].replies.edges).toEqual([
      { node: { id: reply.id } },
    ]);
    expect((await logIn(verity, author)).errors).toBeUndefined();
    // Live feeds were not told of the truths coming back.
    expect(home.pending).toBe(0);
    home.close();
  });

  it('a spam wave leaves the hashtag and public feeds whole when its author is suspended, and comes back in order when lifted', async () => {
    const { moderator } = await staff();
    const bystander = await verity.signUp();
    const spammer = await verity.signUp();
    const tag = `wave${Date.now()}`;
    await post(verity, bystander.token, `before the wave #${tag}`);
    // More than a page's filling rounds could skip (feed.service.ts, fillPage).
    for (let i = 0; i < 60; i++) await post(verity, spammer.token, `spam ${i} #${tag}`);
    await ok(suspend, { i: { id: spammer.id } }, moderator.token);

    const page = await feed(verity, 'hashtagFeed', { tag, first: 1 });
    expect(page.errors).toBeUndefined();
    expect(page.data!['hashtagFeed'].edges.map((edge: any) => edge.node.text)).toEqual([
      `before the wave #${tag}`,
    ]);
    expect(page.data!['hashtagFeed'].pageInfo.hasNextPage).toBe(false);
    expect(await feedTexts(verity, 'publicFeed', { first: 1 })).toEqual([
      `before the wave #${tag}`,
    ]);

    await ok(unsuspend, { i: { id: spammer.id } }, moderator.token);
    const back = await feedTexts(verity, 'hashtagFeed', { tag, first: 100 });
    expect(back).toEqual([
      ...Array.from({ length: 60 }, (_, i) => `spam ${59 - i} #${tag}`),
      `before the wave #${tag}`,
    ]);
  });

  it('a moderator’s removals reach live feeds, and every action is in the log, newest first, in pages', async () => {
    const { admin, moderator } = await staff();
    const author = await verity.signUp();
    const reader = await verity.signUp();
    await act(verity, reader.token, 'follow', author.id);
    const doomed = await post(verity, author.token, 'to be removed');
    const reported = await post(verity, author.token, 'to be reported');
    const client = verity.connect(reader.token);
    const home = verity.subscribe(client, homeUpdates);
    await channelReady(verity, homeChannel(reader.id));

    expect(
      (await ok(removeTruth, { i: { id: doomed.id, note: 'rule 3' } }, moderator.token))[
        'removeTruth'
      ],
    ).toEqual({ removedTruthId: doomed.id });
    expect((await home.next()).data!['homeFeedUpdated']).toEqual({
      __typename: 'TruthDeleted',
      truthId: doomed.id,
    });
    const report = (
      await ok(reportTruth, { i: { id: reported.id, reason: 'ILLEGAL' } }, reader.token)
    )['reportTruth'].report;
    await ok(
      resolve,
      { i: { id: report.id, action: 'REMOVE_TRUTH', note: 'illegal' } },
      moderator.token,
    );
    expect((await home.next()).data!['homeFeedUpdated']).toEqual({
      __typename: 'TruthDeleted',
      truthId: reported.id,
    });
    expect(await feedTexts(verity, 'homeFeed', { token: reader.token })).toEqual([]);
    home.close();

    const entries: any[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 3; pages++) {
      const page: any = (await ok(log, { first: 1, after }, admin.token))['moderationLog'];
      entries.push(...page.edges.map((edge: any) => edge.node));
      after = page.pageInfo.endCursor;
      expect(page.pageInfo.hasNextPage).toBe(true);
    }
    expect(new Set(entries.map((entry) => entry.id)).size).toBe(3);
    expect(entries).toMatchObject([
      {
        action: 'RESOLVE_REPORT',
        resolution: 'REMOVE_TRUTH',
        reason: 'ILLEGAL',
        note: 'illegal',
        actor: { username: moderator.username },
        targetTruth: { id: reported.id },
        targetUser: { username: author.username },
      },
      {
        action: 'REMOVE_TRUTH',
        note: 'illegal',
        targetTruth: { id: reported.id },
      },
      {
        action: 'REMOVE_TRUTH',
        note: 'rule 3',
        actor: { username: moderator.username },
        targetTruth: { id: doomed.id },
      },
    ]);
    const times = entries.map((entry) => Date.parse(entry.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('keeps reports, suspensions, roles and the log after Redis loses them', async () => {
    const { admin, moderator } = await staff();
    const author = await verity.signUp();
    const reporter = await verity.signUp();
    const granted = await verity.signUp();
    const tag = `rebuild${Date.now()}`;
    await post(verity, author.token, `gone for now #${tag}`);
    const open = await post(verity, reporter.token, `reported #${tag}`);
    const report = (await ok(reportTruth, { i: { id: open.id, reason: 'OTHER' } }, author.token))[
      'reportTruth'
    ].report;
    const dismissedTruth = await post(verity, reporter.token, 'dismissed');
    const dismissed = (
      await ok(reportTruth, { i: { id: dismissedTruth.id, reason: 'SPAM' } }, author.token)
    )['reportTruth'].report;
    await ok(resolve, { i: { id: dismissed.id, action: 'DISMISS' } }, moderator.token);
    await ok(suspend, { i: { id: author.id } }, moderator.token);
    await ok(setRole, { i: { userId: granted.id, role: 'MODERATOR' } }, admin.token);
    const logBefore = (await ok(log, { first: 100 }, admin.token))['moderationLog'].edges;
    const queueBefore = (await ok(queue, { first: 100 }, moderator.token))['moderationQueue'].edges;

    expect(await loseRedisKeys(verity, 'm:*')).toBeGreaterThan(0);

    expect((await ok(log, { first: 100 }, admin.token))['moderationLog'].edges).toEqual(logBefore);
    expect((await ok(queue, { first: 100 }, moderator.token))['moderationQueue'].edges).toEqual(
      queueBefore,
    );
    expect(queueBefore.map((edge: any) => edge.node.id)).toContain(report.id);
    expect(queueBefore.map((edge: any) => edge.node.id)).not.toContain(dismissed.id);
    expect(errorCodes(await logIn(verity, author))).toEqual(['ACCOUNT_SUSPENDED']);
    expect(await feedTexts(verity, 'hashtagFeed', { tag })).toEqual([`reported #${tag}`]);
    expect((await ok('{ viewer { roles } }', {}, granted.token))['viewer'].roles).toEqual([
      'USER',
      'MODERATOR',
    ]);
    // The dismissed round stays closed: reporting again opens a new report.
    const again = (
      await ok(reportTruth, { i: { id: dismissedTruth.id, reason: 'SPAM' } }, granted.token)
    )['reportTruth'].report;
    expect(again.id).not.toBe(dismissed.id);
  });
});

describe('the reports rate limit', () => {
  const moderatorName = uniqueUsername('mod');
  const verity = useVerity({
    env: {
      RATE_LIMITS: 'true',
      RATE_LIMIT_REPORTS_PER_ACCOUNT: '2/600',
      MODERATOR_USERNAMES: moderatorName,
    },
  });

  it('refuses a reporter’s third report within the window with RATE_LIMITED, storing nothing', async () => {
    const moderator = await verity.signUp({ username: moderatorName });
    const reporter = await verity.signUp();
    const targets = [await verity.signUp(), await verity.signUp(), await verity.signUp()];
    const results = [];
    for (const target of targets) {
      results.push(
        await verity.gql(
          reportUser,
          { i: { id: target.id, reason: 'SPAM' } },
          { token: reporter.token },
        ),
      );
    }
    expect(results.map((result) => errorCodes(result))).toEqual([[], [], ['RATE_LIMITED']]);
    const open = await verity.gql(queue, { first: 100 }, { token: moderator.token });
    expect(open.data!['moderationQueue'].edges).toHaveLength(2);
  });
});

describe('a suspension across instances', () => {
  const moderatorName = uniqueUsername('mod');
  const verities = useVerities(2, { env: { MODERATOR_USERNAMES: moderatorName } });

  it('reaches live feeds and sockets on another instance, and its pages there at once', async () => {
    const [one, two] = verities;
    const moderator = await one!.signUp({ username: moderatorName });
    const author = await one!.signUp();
    const reader = await one!.signUp();
    await act(one!, reader.token, 'follow', author.id);
    const truth = await post(one!, author.token, 'seen on the other instance');
    // Read once there, so the other instance holds the author as not suspended.
    expect(await feedTexts(two!, 'homeFeed', { token: reader.token })).toEqual([
      'seen on the other instance',
    ]);

    const client = two!.connect(reader.token);
    const home = two!.subscribe(client, homeUpdates);
    await channelReady(two!, homeChannel(reader.id));
    const authorSocket = await openSocket(two!, author.token);

    const result = await one!.gql(suspend, { i: { id: author.id } }, { token: moderator.token });
    expect(result.errors).toBeUndefined();
    expect((await home.next()).data!['homeFeedUpdated']).toEqual({
      __typename: 'TruthDeleted',
      truthId: truth.id,
    });
    expect((await authorSocket.closed).code).toBe(4441);
    expect(await feedTexts(two!, 'homeFeed', { token: reader.token })).toEqual([]);
    expect(errorCodes(await logIn(two!, author))).toEqual(['ACCOUNT_SUSPENDED']);
    home.close();
  });
});
