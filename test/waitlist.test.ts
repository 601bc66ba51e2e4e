import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type EmbeddedRedis } from '../src/infra/embedded/redis-server.js';
import { leaseKeys } from '../src/infra/lock.js';
import { createLogger } from '../src/infra/logger.js';
import { errorCodes, signUpMutation, uniqueUsername } from './helpers/graphql.js';
import {
  startVerity,
  testJwtSecret,
  uniqueDbName,
  useVerity,
  type TestServer,
} from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

const ticketFields = 'ticket position admitted username ticketToken';

const joinMutation = /* GraphQL */ `
  mutation Join($input: JoinWaitlistInput!) {
    joinWaitlist(input: $input) { ${ticketFields} }
  }
`;

const statsFields = /* GraphQL */ `
  waiting admitted admittedThrough lastTicket maxActiveAccounts admissionRatePerMinute paused
  estimatedWaitSeconds
`;

const positionSubscription = /* GraphQL */ `
  subscription Position($ticketToken: String!) {
    waitlistPosition(ticketToken: $ticketToken) { ${ticketFields} }
  }
`;

const completeMutation = /* GraphQL */ `
  mutation Complete($input: CompleteSignUpInput!) {
    completeSignUp(input: $input) {
      token
      user {
        username
      }
    }
  }
`;

interface Ticket {
  ticket: number;
  position: number;
  admitted: boolean;
  username: string;
  ticketToken: string | null;
}

const password = 'correct horse battery staple';

/** Settings every waitlist test starts from: admission only through admitNext. */
const waitlistEnv = (admin: string, extra: Record<string, string> = {}) => ({
  ADMIN_USERNAMES: admin,
  WAITLIST_ADMISSION_RATE_PER_MINUTE: '0',
  ...extra,
});

/**
 * `count` instances on one database, with an admin (ADMIN_USERNAMES) signed up through the
 * first; instance `owner` drops the database when it stops, the others keep it.
 */
function useWaitlistInstances(
  label: string,
  count: number,
  options: { env?: Record<string, string>; owner?: number } = {},
) {
  const dbName = uniqueDbName(label);
  const admin = uniqueUsername('adm');
  const cluster = { instances: [] as TestServer[], adminToken: '' };
  beforeAll(async () => {
    for (let i = 0; i < count; i++) {
      cluster.instances.push(
        await startVerity({
          dbName,
          keepDatabase: i !== (options.owner ?? 0),
          env: waitlistEnv(admin, options.env),
        }),
      );
    }
    cluster.adminToken = (await cluster.instances[0]!.signUp({ username: admin })).token;
  });
  afterAll(async () => {
    for (const instance of [...cluster.instances].reverse()) await instance.stop();
  });
  return cluster;
}

async function join(server: TestServer, email: string, username = uniqueUsername('w')) {
  const result = await server.gql<{ joinWaitlist: Ticket }>(joinMutation, {
    input: { email, username },
  });
  if (!result.data?.joinWaitlist) throw new Error(`join failed: ${JSON.stringify(result)}`);
  return result.data.joinWaitlist;
}

async function admitNext(server: TestServer, token: string, count: number) {
  const result = await server.gql(
    `mutation($count: Int!) { admitNext(count: $count) { ${statsFields} } }`,
    { count },
    { token },
  );
  if (!result.data) throw new Error(`admitNext failed: ${JSON.stringify(result)}`);
  return result.data['admitNext'] as Record<string, number>;
}

/**
 * A forced tick, tried again while the lease is busy: the instances' timers take it for a moment
 * on each of their ticks while anyone waits (at a rate of 0 too: a timer's tick also repairs).
 */
async function tickPastBusy<T extends { status: string }>(tick: () => Promise<T>): Promise<T> {
  let outcome = await tick();
  while (outcome.status === 'busy') {
    await new Promise((resolve) => setTimeout(resolve, 20));
    outcome = await tick();
  }
  return outcome;
}

async function stats(server: TestServer, token: string) {
  const result = await server.gql(`{ waitlistStats { ${statsFields} } }`, {}, { token });
  return result.data!['waitlistStats'] as Record<string, number | boolean | null>;
}

/**
 * Every ticket in the admissions log, in order, after checking that its ranges are contiguous
 * from 1 (so none was skipped or admitted twice) and match `marks.recordedThrough`.
 */
async function admittedTickets(server: TestServer): Promise<number[]> {
  const { WaitlistAdmission, WaitlistState } = server.app.internals.models;
  const ranges = await WaitlistAdmission.find({})
    .sort({ _id: 1 })
    .lean<{ _id: number; from: number }[]>()
    .exec();
  const tickets: number[] = [];
  let through = 0;
  for (const range of ranges) {
    expect(range.from, 'admission ranges are contiguous').toBe(through);
    for (let ticket = range.from + 1; ticket <= range._id; ticket++) tickets.push(ticket);
    through = range._id;
  }
  const marks = await WaitlistState.collection.findOne({ _id: 'marks' as never });
  expect(marks?.['recordedThrough'] ?? 0).toBe(through);
  return tickets;
}

/** The messages in the outbox for `email`, oldest first (what a mail relay would deliver). */
async function mailbox(server: TestServer, email: string) {
  return server.app.internals.models.Mail.find({ to: email.trim().toLowerCase() })
    .sort({ _id: 1 })
    .lean<{ kind: string; subject: string; text: string; data: Record<string, unknown> }[]>()
    .exec();
}

/** The ticket token last mailed to `email`. */
async function mailedToken(server: TestServer, email: string): Promise<string> {
  const mails = await mailbox(server, email);
  const token = mails.findLast((mail) => typeof mail.data['ticketToken'] === 'string')?.data[
    'ticketToken'
  ];
  if (typeof token !== 'string') throw new Error(`no ticket token was mailed to ${email}`);
  return token;
}

const uniqueEmail = (label = 'w') => `${label}_${randomBytes(5).toString('hex')}@example.com`;

describe('sign-up under and over capacity', () => {
  const admin = uniqueUsername('adm');
  const verity = useVerity({
    env: waitlistEnv(admin, { WAITLIST_MAX_ACTIVE_ACCOUNTS: '2' }),
  });

  it('creates accounts at once under capacity, then hands out waitlist tickets', async () => {
    const boss = await verity.signUp({ username: admin });
    const second = await verity.gql(signUpMutation, {
      input: { username: uniqueUsername(), email: uniqueEmail(), password },
    });
    expect(second.data?.['signUp']).toMatchObject({ __typename: 'Session' });

    const username = uniqueUsername('late');
    const email = uniqueEmail('late');
    const third = await verity.gql(
      `mutation($input: SignUpInput!) { signUp(input: $input) { __typename ... on WaitlistTicket { ${ticketFields} } } }`,
      { input: { username, email, password } },
    );
    expect(third.data?.['signUp']).toMatchObject({
      __typename: 'WaitlistTicket',
      ticket: 1,
      position: 1,
      admitted: false,
      username,
    });
    // Nothing was created for the waiting person, and a retry gets the same ticket.
    expect(await verity.app.internals.models.User.countDocuments({ email }).exec()).toBe(0);
    const again = await join(verity, ` ${email.toUpperCase()} `, username);
    expect(again).toMatchObject({ ticket: 1, position: 1 });

    expect(await stats(verity, boss.token)).toMatchObject({
      waiting: 1,
      admittedThrough: 0,
      lastTicket: 1,
      maxActiveAccounts: 2,
      admissionRatePerMinute: 0,
      paused: false,
      estimatedWaitSeconds: null,
    });
  });

  it('makes newcomers queue behind whoever is waiting, even when there is room', async () => {
    const boss = await verity.gql<{ logIn: { token: string } }>(
      'mutation($input: LogInInput!) { logIn(input: $input) { token } }',
      { input: { login: admin, password } },
    );
    const token = boss.data!.logIn.token;
    await verity.gql(
      'mutation { setWaitlistCapacity(input: { maxActiveAccounts: 0, admissionRatePerMinute: 0 }) { paused } }',
      {},
      { token },
    );
    const result = await verity.gql(signUpMutation, {
      input: { username: uniqueUsername(), email: uniqueEmail(), password },
    });
    expect(result.data?.['signUp']).toMatchObject({ __typename: 'WaitlistTicket' });
  });
});

describe('ticket tokens, which reach only the owner of an email', () => {
  const admin = uniqueUsername('adm');
  // The admin's account fills the only seat: everyone else joins the waitlist.
  const verity = useVerity({ env: waitlistEnv(admin, { WAITLIST_MAX_ACTIVE_ACCOUNTS: '1' }) });
  let adminToken = '';
  beforeAll(async () => {
    adminToken = (await verity.signUp({ username: admin })).token;
    // Seats for whoever admitNext lets in; joinWaitlist still always joins the list.
    await verity.gql(
      'mutation { setWaitlistCapacity(input: { maxActiveAccounts: 0, admissionRatePerMinute: 0 }) { paused } }',
      {},
      { token: adminToken },
    );
  });

  const complete = (ticketToken: string | null, secret = password) =>
    verity.gql<{ completeSignUp: { token: string; user: { username: string; email: string } } }>(
      'mutation($input: CompleteSignUpInput!) { completeSignUp(input: $input) { token user { username email } } }',
      { input: { ticketToken, password: secret } },
    );

  it('answers a repeat join for an email, in any case and with spaces, without the token, and mails it to the address', async () => {
    const victim = uniqueEmail('victim');
    const first = await join(verity, victim);
    expect(first.ticketToken).toEqual(expect.any(String));
    expect(await mailbox(verity, victim)).toMatchObject([
      { kind: 'waitlist-ticket', data: { ticket: first.ticket, ticketToken: expect.any(String) } },
    ]);

    // Someone who only knows the address gets the same place and no way to prove it is theirs.
    const attacker = await join(verity, `  ${victim.toUpperCase()} `, uniqueUsername('evil'));
    expect(attacker).toMatchObject({ ticket: first.ticket, ticketToken: null });
    const again = await join(verity, victim);
    expect(again.ticketToken).toBeNull();
    const mails = await mailbox(verity, victim);
    expect(mails.map((mail) => mail.kind)).toEqual(['waitlist-ticket', 'waitlist-ticket-again']);
    expect(mails.every((mail) => mail.text.includes(String(mail.data['ticketToken'])))).toBe(true);

    // Only the owner of the address completes sign-up, under the name they asked for.
    await admitNext(verity, adminToken, first.ticket);
    const done = await complete(await mailedToken(verity, victim));
    expect(done.data?.completeSignUp.user).toEqual({ username: first.username, email: victim });
    expect(errorCodes(await complete(null))).toEqual(['BAD_USER_INPUT']);
  });

  it('answers a join for an email that has an account exactly like a new join, and tells the owner by mail', async () => {
    const owner = `${admin.toLowerCase()}@example.com`;
    const fresh = await join(verity, uniqueEmail('fresh'));
    const probe = await join(verity, ` ${owner.toUpperCase()}`, uniqueUsername('probe'));
    // Nothing in the answer tells the two apart.
    expect(Object.keys(probe).sort()).toEqual(Object.keys(fresh).sort());
    expect(probe).toMatchObject({ ticket: fresh.ticket + 1, admitted: false });
    expect(probe.ticketToken).toEqual(expect.any(String));
    expect(await mailbox(verity, owner)).toMatchObject([
      { kind: 'waitlist-account-exists', data: {} },
    ]);

    // That ticket can never take the account over: the address already has one.
    await admitNext(verity, adminToken, probe.ticket);
    expect(errorCodes(await complete(probe.ticketToken, 'attacker chosen passphrase'))).toEqual([
      'CONFLICT',
    ]);
    const logIn = await verity.gql(
      'mutation($input: LogInInput!) { logIn(input: $input) { user { username email } } }',
      { input: { login: owner, password } },
    );
    expect(logIn.data?.['logIn']).toEqual({ user: { username: admin, email: owner } });
  });
});

describe('usernames asked for on the waitlist', () => {
  const admin = uniqueUsername('adm');
  const verity = useVerity({ env: waitlistEnv(admin, { WAITLIST_PAUSED: 'true' }) });

  it('stay reserved for an admitted ticket until it completes sign-up', async () => {
    const boss = await verity.signUp({ username: admin }).catch(() => null);
    // Paused: even the admin's own sign-up waits; let it in through the list.
    expect(boss).toBeNull();
    // The refused sign-up joined the list; its token went to the admin's address.
    const adminToken = await mailedToken(verity, `${admin}@example.com`);
    const wanted = uniqueUsername('want');
    const ticket = await join(verity, uniqueEmail('want'), wanted);
    await verity.app.internals.services.waitlist.admitNext(2);
    const adminSession = await verity.gql<{ completeSignUp: { token: string } }>(completeMutation, {
      input: { ticketToken: adminToken, password },
    });
    const token = adminSession.data!.completeSignUp.token;
    await verity.gql('mutation { resumeAdmissions { paused } }', {}, { token });

    // Nobody waits now, so sign-up is direct, but the admitted ticket's username is held.
    const taken = await verity.gql(signUpMutation, {
      input: { username: wanted.toUpperCase(), email: uniqueEmail(), password },
    });
    expect(errorCodes(taken)).toEqual(['CONFLICT']);
    const done = await verity.gql(completeMutation, {
      input: { ticketToken: ticket.ticketToken, password },
    });
    expect(done.data?.['completeSignUp']).toMatchObject({ user: { username: wanted } });
  });
});

describe('joining through several instances', () => {
  const cluster = useWaitlistInstances('waitlist_fifo', 3);
  const { instances } = cluster;

  it('numbers 30 concurrent joins 1..30 with no gap or duplicate, and admits them in order', async () => {
    const emails = Array.from({ length: 30 }, (_, i) => uniqueEmail(`fifo${i}`));
    const tickets = await Promise.all(
      emails.map((email, i) => join(instances[i % instances.length]!, email)),
    );
    expect(tickets.map((t) => t.ticket).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    for (const t of tickets) expect(t.position).toBe(t.ticket);

    const after = await admitNext(instances[1]!, cluster.adminToken, 10);
    expect(after).toMatchObject({ admittedThrough: 10, waiting: 20, lastTicket: 30 });
    expect(await admittedTickets(instances[0]!)).toEqual(
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
  });

  it('gives the same ticket to a retry of the same email on another instance, in any case', async () => {
    const email = uniqueEmail('retry');
    const username = uniqueUsername('retry');
    const [a, b] = await Promise.all([
      join(instances[0]!, email, username),
      join(instances[1]!, `  ${email.toUpperCase()}`, username),
    ]);
    const c = await join(instances[2]!, email.replace('retry', 'RETRY'), username);
    expect(new Set([a.ticket, b.ticket, c.ticket]).size).toBe(1);
    const entries = await instances[0]!.app.internals.models.WaitlistEntry.countDocuments({
      email,
    }).exec();
    expect(entries).toBe(1);
    expect(
      (await stats(instances[2]!, cluster.adminToken))['lastTicket'],
      'no second ticket was drawn',
    ).toBe(a.ticket);
  });

  it('refuses a username another waiting email asked for', async () => {
    const username = uniqueUsername('dup');
    await join(instances[0]!, uniqueEmail(), username);
    const result = await instances[1]!.gql(joinMutation, {
      input: { email: uniqueEmail(), username: username.toUpperCase() },
    });
    expect(errorCodes(result)).toEqual(['CONFLICT']);
  });
});

describe('positions, live updates and completing sign-up', () => {
  // Instance 1 owns (and drops) the database: instance 0 is stopped mid-test.
  const cluster = useWaitlistInstances('waitlist_live', 2, { owner: 1 });
  const { instances } = cluster;

  it('pushes each new position, never higher, then admission; then sign-up completes once', async () => {
    const [a, b, c] = [
      await join(instances[0]!, uniqueEmail('a')),
      await join(instances[0]!, uniqueEmail('b')),
      await join(instances[1]!, uniqueEmail('c')),
    ];
    expect([a.ticket, b.ticket, c.ticket]).toEqual([1, 2, 3]);

    // C watches from the other instance, connected with only its ticket token.
    const client = instances[1]!.connect(null, {
      connectionParams: { ticketToken: c.ticketToken },
    });
    const live = instances[1]!.subscribe<{ waitlistPosition: Ticket }>(
      client,
      positionSubscription,
      { ticketToken: c.ticketToken },
    );
    const positions: number[] = [];
    const first = (await live.next()).data!.waitlistPosition;
    expect(first).toMatchObject({ ticket: 3, position: 3, admitted: false });
    positions.push(first.position);

    const early = await instances[1]!.gql(completeMutation, {
      input: { ticketToken: c.ticketToken, password },
    });
    expect(errorCodes(early)).toEqual(['WAITLISTED']);
    expect(early.errors![0]!.extensions).toMatchObject({ position: 3 });

    for (const expected of [2, 1]) {
      const through = (await admitNext(instances[0]!, cluster.adminToken, 1))['admittedThrough']!;
      const next = (await live.next()).data!.waitlistPosition;
      expect(next.position).toBe(expected);
      expect(next.position).toBe(c.ticket - through);
      positions.push(next.position);
      // The query says the same number as the subscription.
      const queried = await instances[0]!.gql(
        `query($t: String!) { waitlistTicket(ticketToken: $t) { position admitted } }`,
        { t: c.ticketToken },
      );
      expect(queried.data?.['waitlistTicket']).toEqual({ position: expected, admitted: false });
    }

    await admitNext(instances[0]!, cluster.adminToken, 5);
    const last = (await live.next()).data!.waitlistPosition;
    expect(last).toMatchObject({ ticket: 3, position: 0, admitted: true });
    positions.push(last.position);
    expect(positions).toEqual([3, 2, 1, 0]);
    await expect(live.next(1_000)).rejects.toThrow(/completed/);
    // No watcher and no channel listener is left behind on the instance.
    await waitFor(() => instances[1]!.app.internals.services.waitlist.watchers.size === 0);

    const done = await instances[0]!.gql<{
      completeSignUp: { token: string; user: { username: string } };
    }>(completeMutation, {
      input: { ticketToken: c.ticketToken, password, displayName: 'Cee' },
    });
    expect(done.data?.completeSignUp.user.username).toBe(c.username);
    const me = await instances[1]!.gql(
      '{ me { username displayName } }',
      {},
      { token: done.data!.completeSignUp.token },
    );
    expect(me.data).toEqual({ me: { username: c.username, displayName: 'Cee' } });
    // The new account's first notification says it was admitted, with the same ticket number.
    const inbox = await instances[0]!.gql(
      '{ notifications(first: 5) { edges { node { kind waitlistTicket actor { username } } } } }',
      {},
      { token: done.data!.completeSignUp.token },
    );
    expect(inbox.data?.['notifications'].edges).toEqual([
      { node: { kind: 'ADMITTED', waitlistTicket: 3, actor: { username: c.username } } },
    ]);

    // A retry whose answer was lost signs in to the same account; nothing is created twice.
    const retried = await instances[1]!.gql<{
      completeSignUp: { user: { username: string } };
    }>(completeMutation, { input: { ticketToken: c.ticketToken, password } });
    expect(retried.data?.completeSignUp.user.username).toBe(c.username);
    const twice = await instances[1]!.gql(completeMutation, {
      input: { ticketToken: c.ticketToken, password: 'another long passphrase 42' },
    });
    expect(errorCodes(twice)).toEqual(['CONFLICT']);
    const again = await instances[0]!.gql(
      '{ notifications(first: 5) { edges { node { kind } } } }',
      {},
      { token: done.data!.completeSignUp.token },
    );
    expect(again.data?.['notifications'].edges).toHaveLength(1);
  });

  it('completes sign-up under another username when asked, and frees the one asked for', async () => {
    const first = uniqueUsername('first');
    const ticket = await join(instances[0]!, uniqueEmail('rename'), first);
    await admitNext(instances[0]!, cluster.adminToken, 1);

    const malformed = await instances[1]!.gql(completeMutation, {
      input: { ticketToken: ticket.ticketToken, password, username: 'no spaces allowed' },
    });
    expect(errorCodes(malformed)).toEqual(['BAD_USER_INPUT']);

    const renamed = uniqueUsername('renamed');
    const done = await instances[1]!.gql<{
      completeSignUp: { token: string; user: { username: string } };
    }>(completeMutation, {
      input: { ticketToken: ticket.ticketToken, password, username: renamed },
    });
    expect(done.data?.completeSignUp.user.username).toBe(renamed);

    // The name first asked for is free again: someone else may take it.
    const other = await join(instances[0]!, uniqueEmail('other'), first);
    expect(other.ticket).toBe(ticket.ticket + 1);
    await admitNext(instances[0]!, cluster.adminToken, 1);
  });

  it('repairs a tick that died after writing the watermark: nobody skipped or admitted twice', async () => {
    const tickets = [];
    for (let i = 0; i < 3; i++) tickets.push(await join(instances[0]!, uniqueEmail('crash')));
    const before = (await stats(instances[0]!, cluster.adminToken))['admittedThrough'] as number;
    expect(tickets[0]!.ticket).toBe(before + 1);

    const client = instances[1]!.connect(cluster.adminToken);
    const live = instances[1]!.subscribe<{ waitlistPosition: Ticket }>(
      client,
      positionSubscription,
      { ticketToken: tickets[1]!.ticketToken },
    );
    expect((await live.next()).data!.waitlistPosition.position).toBe(2);

    // Instance 0 "dies" right after its durable watermark write: its lease is left to expire.
    const { waitlist } = instances[0]!.app.internals.services;
    await expect(
      tickPastBusy(() => waitlist.tick({ count: 2, crashAfterWatermark: true })),
    ).rejects.toThrow(/simulated crash/);
    await instances[0]!.stop();
    // Written, but not announced and not recorded.
    const recordedBefore = await admittedTickets(instances[1]!);
    expect(recordedBefore.at(-1)).toBe(before);

    // The surviving instance's timer takes over once the lease expires and finishes the tick.
    const next = (await live.next(15_000)).data!.waitlistPosition;
    expect(next).toMatchObject({ ticket: tickets[1]!.ticket, position: 0, admitted: true });
    expect(await admittedTickets(instances[1]!)).toEqual([
      ...recordedBefore,
      before + 1,
      before + 2,
    ]);
    expect(await stats(instances[1]!, cluster.adminToken)).toMatchObject({
      admittedThrough: before + 2,
      waiting: 1,
    });
  });
});

describe('many live positions', () => {
  const cluster = useWaitlistInstances('waitlist_many', 2);
  const { instances } = cluster;

  it('gives every subscriber, after each of several ticks, what the query says for its ticket', async () => {
    const selection = 'ticket position p: position admitted username ticketToken __typename';
    const tickets: Ticket[] = [];
    for (let i = 0; i < 24; i++) tickets.push(await join(instances[i % 2]!, uniqueEmail('many')));
    const watching = tickets.map((ticket, i) => {
      const server = instances[(i + 1) % 2]!;
      const client = server.connect(null, {
        connectionParams: { ticketToken: ticket.ticketToken },
      });
      return {
        ticket,
        live: server.subscribe<{ waitlistPosition: Record<string, unknown> }>(
          client,
          `subscription($t: String!) { waitlistPosition(ticketToken: $t) { ${selection} } }`,
          { t: ticket.ticketToken },
        ),
      };
    });
    const queried = async (token: string) =>
      (
        await instances[0]!.gql(
          `query($t: String!) { waitlistTicket(ticketToken: $t) { ${selection} } }`,
          { t: token },
        )
      ).data!['waitlistTicket'];
    let waiting = watching;
    for (let tick = 0; tick <= 4; tick++) {
      if (tick > 0) await admitNext(instances[tick % 2]!, cluster.adminToken, 5);
      for (const { ticket, live } of waiting) {
        const pushed = (await live.next()).data!.waitlistPosition;
        expect(pushed).toEqual(await queried(ticket.ticketToken!));
        expect(pushed['ticketToken']).toBe(ticket.ticketToken);
      }
      waiting = waiting.filter(({ ticket }) => ticket.ticket - tickets[0]!.ticket >= tick * 5);
    }
    for (const { live } of watching) live.close();
  });
});

describe('admission by the timer and by a stale lease holder', () => {
  const cluster = useWaitlistInstances('waitlist_tick', 2, { env: { WAITLIST_TICK_MS: '100' } });
  const { instances } = cluster;

  it('admits at the configured rate on its own and tells the subscriber live', async () => {
    const ticket = await join(instances[0]!, uniqueEmail('timer'));
    const client = instances[1]!.connect(null, {
      connectionParams: { ticketToken: ticket.ticketToken },
    });
    const live = instances[1]!.subscribe<{ waitlistPosition: Ticket }>(
      client,
      positionSubscription,
      { ticketToken: ticket.ticketToken },
    );
    expect((await live.next()).data!.waitlistPosition).toMatchObject({ position: 1 });
    await instances[0]!.gql(
      'mutation { setWaitlistCapacity(input: { maxActiveAccounts: 0, admissionRatePerMinute: 6000 }) { paused } }',
      {},
      { token: cluster.adminToken },
    );
    expect((await live.next()).data!.waitlistPosition).toMatchObject({
      position: 0,
      admitted: true,
    });
    await instances[0]!.gql(
      'mutation { setWaitlistCapacity(input: { maxActiveAccounts: 0, admissionRatePerMinute: 0 }) { paused } }',
      {},
      { token: cluster.adminToken },
    );
  });

  it('starts a new rate at that rate: budget left unused while nobody was admitted is not saved up', async () => {
    const before = (await stats(instances[0]!, cluster.adminToken))['admittedThrough'] as number;
    for (let i = 0; i < 30; i++) await join(instances[i % 2]!, uniqueEmail('burst'));
    // A second with the timer admitting nobody (rate 0), then ten a second: one per 100 ms tick.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await instances[0]!.gql(
      'mutation { setWaitlistCapacity(input: { maxActiveAccounts: 0, admissionRatePerMinute: 600 }) { paused } }',
      {},
      { token: cluster.adminToken },
    );
    let firstSeen = 0;
    const deadline = Date.now() + 5_000;
    while (firstSeen === 0 && Date.now() < deadline) {
      const through = (await stats(instances[1]!, cluster.adminToken))['admittedThrough'] as number;
      firstSeen = through - before;
    }
    await instances[0]!.gql(
      'mutation { setWaitlistCapacity(input: { maxActiveAccounts: 0, admissionRatePerMinute: 0 }) { paused } }',
      {},
      { token: cluster.adminToken },
    );
    // Not the idle second's ten at once.
    expect(firstSeen).toBeGreaterThanOrEqual(1);
    expect(firstSeen).toBeLessThanOrEqual(3);
    const after = await stats(instances[0]!, cluster.adminToken);
    await admitNext(instances[0]!, cluster.adminToken, after['waiting'] as number);
  });

  it('takes no lease while admissions are stopped and no tick is left to finish', async () => {
    await join(instances[0]!, uniqueEmail('stopped'));
    const { redis } = instances[0]!.app.internals;
    const { fenceKey } = leaseKeys(redis, 'waitlist:tick');
    const fence = async () => Number(await redis.command.get(fenceKey));
    const before = await fence();
    // About ten ticks of each instance's timer, someone waiting, at rate 0.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await fence()).toBe(before);
    await admitNext(instances[1]!, cluster.adminToken, 1);
    expect(await fence()).toBe(before + 1);
  });

  it("lets an admitNext wait for its own instance's tick, not take the lease from it", async () => {
    await join(instances[0]!, uniqueEmail('turn'));
    await join(instances[0]!, uniqueEmail('turn'));
    const before = (await stats(instances[0]!, cluster.adminToken))['admittedThrough'] as number;
    let next: Promise<Record<string, number>> | undefined;
    const outcome = await tickPastBusy(() =>
      instances[0]!.app.internals.services.waitlist.tick({
        count: 1,
        leaseMs: 100,
        afterRead: async () => {
          // An operator's admitNext on the same instance while its tick holds the lease, and
          // the tick stalled past that lease.
          next ??= admitNext(instances[0]!, cluster.adminToken, 1);
          await new Promise((resolve) => setTimeout(resolve, 300));
        },
      }),
    );
    expect(outcome).toEqual({ status: 'done', admitted: 1, admittedThrough: before + 1 });
    expect(await next).toMatchObject({ admittedThrough: before + 2 });
  });

  it('does not let a holder whose lease expired move the watermark', async () => {
    await join(instances[0]!, uniqueEmail('stale'));
    await join(instances[0]!, uniqueEmail('stale'));
    const before = (await stats(instances[0]!, cluster.adminToken))['admittedThrough'] as number;
    const staleTick = () =>
      instances[0]!.app.internals.services.waitlist.tick({
        count: 2,
        leaseMs: 100,
        afterRead: async () => {
          // Stalled past its lease, while another instance admits one.
          await new Promise((resolve) => setTimeout(resolve, 200));
          await admitNext(instances[1]!, cluster.adminToken, 1);
        },
      });
    const outcome = await tickPastBusy(staleTick);
    expect(outcome).toEqual({ status: 'stale' });
    expect(await stats(instances[1]!, cluster.adminToken)).toMatchObject({
      admittedThrough: before + 1,
      waiting: 1,
    });
  });
});

describe('waitlist errors', () => {
  const admin = uniqueUsername('adm');
  const verity = useVerity({ env: waitlistEnv(admin) });
  const entryCount = () => verity.app.internals.models.WaitlistEntry.countDocuments().exec();

  it('answers a malformed email or username with BAD_USER_INPUT and writes nothing', async () => {
    const before = await entryCount();
    for (const input of [
      { email: 'not-an-email', username: uniqueUsername() },
      { email: 'a@b', username: uniqueUsername() },
      { email: uniqueEmail(), username: 'x!' },
    ]) {
      const result = await verity.gql(joinMutation, { input });
      expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
    }
    expect(await entryCount()).toBe(before);
  });

  it('refuses a forged or unknown ticket token with UNAUTHENTICATED, changing nothing', async () => {
    const forged = await new SignJWT({
      kind: 'waitlist-ticket',
      email: 'x@example.com',
      username: 'x_x',
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('verity')
      .setAudience('waitlist-ticket')
      .setSubject('1')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-secret-not-the-secret-not-the-secret'));
    const unknown = await new SignJWT({
      kind: 'waitlist-ticket',
      email: 'x@example.com',
      username: 'x_x',
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('verity')
      .setAudience('waitlist-ticket')
      .setSubject('999999')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(testJwtSecret));
    const users = await verity.app.internals.models.User.countDocuments().exec();
    for (const token of [forged, unknown, 'garbage']) {
      const complete = await verity.gql(completeMutation, {
        input: { ticketToken: token, password },
      });
      expect(errorCodes(complete)).toEqual(['UNAUTHENTICATED']);
      const query = await verity.gql(
        `query($t: String!) { waitlistTicket(ticketToken: $t) { position } }`,
        { t: token },
      );
      expect(errorCodes(query)).toEqual(['UNAUTHENTICATED']);
      expect(await verity.connectionOutcome({ ticketToken: token })).toMatchObject({
        acknowledged: false,
        closeCode: 4403,
      });
    }
    expect(await verity.app.internals.models.User.countDocuments().exec()).toBe(users);
  });

  it('keeps admin operations to admins: UNAUTHENTICATED anonymously, FORBIDDEN for others', async () => {
    const user = await verity.signUp();
    const operations = [
      '{ waitlistStats { waiting } }',
      'mutation { setWaitlistCapacity(input: { maxActiveAccounts: 1, admissionRatePerMinute: 1 }) { paused } }',
      'mutation { pauseAdmissions { paused } }',
      'mutation { resumeAdmissions { paused } }',
      'mutation { admitNext(count: 1) { admittedThrough } }',
    ];
    for (const operation of operations) {
      expect(errorCodes(await verity.gql(operation))).toEqual(['UNAUTHENTICATED']);
      expect(errorCodes(await verity.gql(operation, {}, { token: user.token }))).toEqual([
        'FORBIDDEN',
      ]);
    }
    const boss = await verity.signUp({ username: admin });
    expect(
      errorCodes(
        await verity.gql(
          'mutation { admitNext(count: 0) { admittedThrough } }',
          {},
          {
            token: boss.token,
          },
        ),
      ),
    ).toEqual(['BAD_USER_INPUT']);
    const paused = await verity.gql(
      'mutation { pauseAdmissions { paused } }',
      {},
      {
        token: boss.token,
      },
    );
    expect(paused.data).toEqual({ pauseAdmissions: { paused: true } });
    const resumed = await verity.gql(
      'mutation { resumeAdmissions { paused } }',
      {},
      {
        token: boss.token,
      },
    );
    expect(resumed.data).toEqual({ resumeAdmissions: { paused: false } });
  });
});

describe('waitlist with Redis killed mid-surge', () => {
  let redis: EmbeddedRedis;
  const instances: TestServer[] = [];
  const dbName = uniqueDbName('waitlist_redis');
  const logger = createLogger({ level: 'silent' });

  beforeAll(async () => {
    redis = await startRedisServer({ logger });
    for (let i = 0; i < 2; i++) {
      instances.push(
        await startVerity({
          dbName,
          keepDatabase: i > 0,
          redisUrl: redis.url,
          env: waitlistEnv('nobody_here'),
        }),
      );
    }
  });

  afterAll(async () => {
    for (const instance of instances.reverse()) await instance.stop();
    await redis?.stop();
  });

  it('loses and duplicates no ticket, and numbering resumes after the highest stored one', async () => {
    const { WaitlistEntry } = instances[0]!.app.internals.models;
    const emails = Array.from({ length: 40 }, (_, i) => uniqueEmail(`surge${i}`));
    const attempt = (email: string, i: number) =>
      instances[i % 2]!.gql<{ joinWaitlist: Ticket }>(joinMutation, {
        input: { email, username: `s_${email.slice(0, 16).replace(/\W/g, '_')}` },
      });

    const firstWave = await Promise.all(emails.slice(0, 10).map(attempt));
    expect(firstWave.every((r) => r.data?.joinWaitlist)).toBe(true);

    // Kill Redis while the second wave is in flight.
    const secondWave = Promise.all(emails.slice(10, 30).map((e, i) => attempt(e, i + 10)));
    await redis.stop();
    const outcomes = await secondWave;
    for (const outcome of outcomes) {
      if (outcome.errors) {
        // A clear, retryable error that names nothing internal.
        expect(JSON.stringify(outcome.errors)).not.toMatch(/redis|mongo|ECONNREFUSED/i);
      }
    }
    // With Redis down, a join fails at once with a clear, retryable error and stores nothing.
    const downEmail = emails[39]!;
    const down = await attempt(downEmail, 39);
    expect(down.errors?.[0]?.extensions).toMatchObject({
      code: 'UNAVAILABLE',
      retryable: true,
    });
    expect(await WaitlistEntry.countDocuments({ email: downEmail }).exec()).toBe(0);

    const storedBefore = await WaitlistEntry.find({}, { ticket: 1 })
      .lean<{ ticket: number }[]>()
      .exec();
    const highestBefore = Math.max(...storedBefore.map((e) => e.ticket));

    redis = await startRedisServer({ logger, port: redis.port });
    // Everyone retries (same emails: the same ticket when it was stored), then newcomers join.
    const retried = await waitFor(
      async () => {
        const results = await Promise.all(emails.slice(0, 30).map(attempt));
        return results.every((r) => r.data?.joinWaitlist) ? results : null;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    const newcomers = await Promise.all(emails.slice(30).map((e, i) => attempt(e, i + 30)));
    for (const r of newcomers) expect(r.data?.joinWaitlist.ticket).toBeGreaterThan(highestBefore);

    // A stored ticket was kept on retry.
    const byEmail = new Map(
      (
        await WaitlistEntry.find({}, { ticket: 1, email: 1 })
          .lean<{ ticket: number; email: string }[]>()
          .exec()
      ).map((e) => [e.email, e.ticket]),
    );
    retried.forEach((r, i) =>
      expect(r.data!.joinWaitlist.ticket).toBe(byEmail.get(emails[i]!.toLowerCase())),
    );
    expect(byEmail.size).toBe(40);
    const all = [...byEmail.values()].sort((a, b) => a - b);
    expect(new Set(all).size).toBe(40);
    expect(all).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });
});
