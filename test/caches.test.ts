import { describe, expect, it } from 'vitest';
import { uniqueDbName, useVerity, type TestServer } from './helpers/server.js';
import { act, feed, loseRedisKeys, post, react } from './helpers/social.js';
import { leaseKeys, tryAcquireLease } from '../src/infra/lock.js';
import { rebuildLease } from '../src/infra/read-model.js';
import { deleteKeys } from '../src/infra/redis.js';
import { userIdHex } from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';

const mutate = async (server: TestServer, token: string, document: string, id: string) => {
  const result = await server.gql(document, { id }, { token });
  expect(result.errors).toBeUndefined();
};

/**
 * Feed pages read truths, users, relations and the viewer's reactions and retruths from Redis
 * (written through by every change) and keep what they read in the process until it changes
 * (src/infra/near-cache.ts). These tests read a page first, so everything is cached, then
 * change the facts and read again: the next page must show the change at once.
 */
describe('Redis caches on the read path', () => {
  const verity = useVerity();

  const homeNodes = async (token: string) => {
    const result = await feed(verity, 'homeFeed', { token });
    expect(result.errors).toBeUndefined();
    return (result.data!['homeFeed'].edges as { node: Record<string, any> }[]).map(
      (edge) => edge.node,
    );
  };

  it('shows a profile change in the next page', async () => {
    const reader = await verity.signUp();
    const author = await verity.signUp();
    await act(verity, reader.token, 'follow', author.id);
    await post(verity, author.token, 'before the rename');
    expect((await homeNodes(reader.token))[0]!['author'].displayName).not.toBe('Renamed');

    const update = await verity.gql(
      `mutation { updateProfile(input: { displayName: "Renamed" }) { displayName } }`,
      {},
      { token: author.token },
    );
    expect(update.errors).toBeUndefined();
    expect((await homeNodes(reader.token))[0]!['author'].displayName).toBe('Renamed');
  });

  it('shows the viewer’s reaction and retruth changes in the next page', async () => {
    const reader = await verity.signUp();
    const author = await verity.signUp();
    await act(verity, reader.token, 'follow', author.id);
    const truth = await post(verity, author.token, 'react to me');
    const mine = () =>
      homeNodes(reader.token).then((nodes) => nodes.find((n) => n['id'] === truth.id)!);
    expect(await mine()).toMatchObject({ viewerReaction: null, viewerHasRetruthed: false });

    await react(verity, reader.token, truth.id, 'LIKE');
    expect(await mine()).toMatchObject({ viewerReaction: 'LIKE' });
    await react(verity, reader.token, truth.id, 'HAHA');
    expect(await mine()).toMatchObject({ viewerReaction: 'HAHA' });
    await mutate(
      verity,
      reader.token,
      `mutation($id: ID!) { removeReaction(input: { truthId: $id }) { truth { id } } }`,
      truth.id,
    );
    expect(await mine()).toMatchObject({ viewerReaction: null });

    const retruth = `mutation($id: ID!) { retruth(input: { truthId: $id }) { retruth { id } } }`;
    const undo = `mutation($id: ID!) { undoRetruth(input: { truthId: $id }) { original { id } } }`;
    await mutate(verity, reader.token, retruth, truth.id);
    expect(await mine()).toMatchObject({ viewerHasRetruthed: true });
    await mutate(verity, reader.token, undo, truth.id);
    expect(await mine()).toMatchObject({ viewerHasRetruthed: false });
  });

  it('shows a deletion at once, in feeds and by id', async () => {
    const reader = await verity.signUp();
    const author = await verity.signUp();
    await act(verity, reader.token, 'follow', author.id);
    const truth = await post(verity, author.token, 'soon gone');
    expect((await homeNodes(reader.token)).map((n) => n['id'])).toContain(truth.id);

    await mutate(
      verity,
      author.token,
      `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
      truth.id,
    );
    expect((await homeNodes(reader.token)).map((n) => n['id'])).not.toContain(truth.id);
    const byId = await verity.gql(`query($id: ID!) { truth(id: $id) { text deletedAt } }`, {
      id: truth.id,
    });
    expect(byId.data!['truth']).toMatchObject({ text: '' });
    expect(byId.data!['truth'].deletedAt).toEqual(expect.any(String));
  });

  it('hides a blocked account at once, and shows it again after unblocking and following', async () => {
    const reader = await verity.signUp();
    const author = await verity.signUp();
    await act(verity, reader.token, 'follow', author.id);
    await post(verity, author.token, 'you will not see me');
    const publicTexts = async () => {
      const result = await feed(verity, 'publicFeed', { token: reader.token, first: 100 });
      return (result.data!['publicFeed'].edges as { node: { text: string } }[]).map(
        (edge) => edge.node.text,
      );
    };
    expect(await publicTexts()).toContain('you will not see me');

    await act(verity, reader.token, 'block', author.id);
    expect(await homeNodes(reader.token)).toEqual([]);
    expect(await publicTexts()).not.toContain('you will not see me');

    await act(verity, reader.token, 'unblock', author.id);
    await act(verity, reader.token, 'follow', author.id);
    expect((await homeNodes(reader.token)).map((n) => n['text'])).toEqual(['you will not see me']);
  });

  it('fans a post out to exactly the current followers, also after their mirror is lost', async () => {
    const author = await verity.signUp();
    const stays = await verity.signUp();
    const leaves = await verity.signUp();
    const blocked = await verity.signUp();
    for (const follower of [stays, leaves, blocked]) {
      await act(verity, follower.token, 'follow', author.id);
    }
    await post(verity, author.token, 'to all three');
    await act(verity, leaves.token, 'unfollow', author.id);
    await act(verity, author.token, 'block', blocked.id);
    await post(verity, author.token, 'to one');

    const { redis } = verity.app.internals;
    const timeline = (userId: string) =>
      redis.command.zcard(`${redis.namespace}:m:tl:{${userIdHex(userId)}}`).then(Number);
    const texts = async (token: string) =>
      (await homeNodes(token)).map((node) => node['text'] as string);
    expect(await texts(stays.token)).toEqual(['to one', 'to all three']);
    expect(await texts(leaves.token)).not.toContain('to one');

    expect(await loseRedisKeys(verity, '*')).toBeGreaterThan(0);
    // Reading rebuilds the timelines (a missing one is not written to, only rebuilt).
    for (const reader of [stays, leaves, blocked]) await texts(reader.token);
    const before = await Promise.all([stays, leaves, blocked].map((user) => timeline(user.id)));
    await post(verity, author.token, 'after the loss');
    expect(await Promise.all([stays, leaves, blocked].map((user) => timeline(user.id)))).toEqual([
      before[0]! + 1,
      before[1],
      before[2],
    ]);
    expect(await texts(stays.token)).toEqual(['after the loss', 'to one', 'to all three']);
    expect(await texts(leaves.token)).not.toContain('after the loss');
    expect(await texts(blocked.token)).toEqual([]);
  });

  it('serves the same pages after Redis has lost every cache, and keeps them exact', async () => {
    const reader = await verity.signUp();
    const author = await verity.signUp();
    await act(verity, reader.token, 'follow', author.id);
    const liked = await post(verity, author.token, 'liked');
    const shared = await post(verity, author.token, 'retruthed');
    await react(verity, reader.token, liked.id, 'LIKE');
    await mutate(
      verity,
      reader.token,
      `mutation($id: ID!) { retruth(input: { truthId: $id }) { retruth { id } } }`,
      shared.id,
    );
    const before = await homeNodes(reader.token);

    expect(await loseRedisKeys(verity, '*')).toBeGreaterThan(0);
    const after = await homeNodes(reader.token);
    expect(after).toEqual(before);
    expect(after.find((n) => n['id'] === liked.id)).toMatchObject({ viewerReaction: 'LIKE' });
    expect(after.find((n) => n['id'] === shared.id)).toMatchObject({ viewerHasRetruthed: true });

    // Changes after the loss are seen too.
    await react(verity, reader.token, shared.id, 'LIKE');
    expect((await homeNodes(reader.token)).find((n) => n['id'] === shared.id)).toMatchObject({
      viewerReaction: 'LIKE',
      counts: { reactions: 1 },
    });
  });

  it('reads no record while the read model is incomplete: a missing record waits for the rebuild, never reads as absent', async () => {
    const user = await verity.signUp();
    const { redis, model } = verity.app.internals;
    const recordKey = `${model.prefix}user:{${userIdHex(user.id)}}`;
    expect((await model.values(redis.command, [recordKey]))[0]).toContain(user.username);

    // Redis lost the record and the markers; this test holds the rebuild off for a moment.
    const lease = await waitFor(() =>
      tryAcquireLease(redis, rebuildLease, { ttlMs: 30_000, minFence: 0 }),
    );
    let released = false;
    try {
      await deleteKeys(redis, `${redis.namespace}:m:ready*`);
      await redis.command.del(recordKey);
      const read = model.values(redis.command, [recordKey]).then((values) => {
        expect(released).toBe(true);
        return values;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      released = true;
      await lease.release();
      const [text] = await read;
      expect(text).toContain(user.username);
    } finally {
      if (!released) await lease.release();
    }
  });

  it('finds every account by name while the read model is rebuilt under the reads', async () => {
    const users = await Promise.all(Array.from({ length: 10 }, () => verity.signUp()));
    const lookup = `query($name: String!) { user(username: $name) { id } }`;
    const answers = { found: 0, absent: [] as string[], errors: [] as string[] };
    let rebuilding = true;
    // Eight readers ask for the accounts by name, without a pause, through three rebuilds.
    const readers = Array.from({ length: 8 }, async (_, reader) => {
      for (let n = reader; rebuilding; n++) {
        const user = users[n % users.length]!;
        const result = await verity.gql(lookup, { name: user.username });
        if (result.errors) answers.errors.push(String(result.errors[0]?.message));
        else if (result.data!['user']?.['id'] === user.id) answers.found++;
        else answers.absent.push(user.username);
      }
    });
    for (let rebuild = 0; rebuild < 3; rebuild++) {
      await verity.app.internals.model.rebuild();
    }
    rebuilding = false;
    await Promise.all(readers);
    expect(answers.errors).toEqual([]);
    expect(answers.absent).toEqual([]);
    expect(answers.found).toBeGreaterThan(0);
  });

  it('answers pages, not errors, when Redis loses the rebuild’s lease in the middle of a rebuild', async () => {
    const reader = await verity.signUp();
    const author = await verity.signUp();
    await act(verity, reader.token, 'follow', author.id);
    await post(verity, author.token, 'through a lost lease');
    const before = await homeNodes(reader.token);

    // The markers go, so the next read rebuilds; the rebuild's lease is lost as soon as it is
    // taken, as when Redis restarts empty (or another instance takes over) mid-rebuild.
    const { redis } = verity.app.internals;
    const leaseKey = leaseKeys(redis, rebuildLease).key;
    await deleteKeys(redis, `${redis.namespace}:m:ready*`);
    const stealing = (async () => {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        if ((await redis.command.del(leaseKey)) === 1) return true;
      }
      return false;
    })();
    const after = await homeNodes(reader.token);
    expect(await stealing).toBe(true);
    expect(after).toEqual(before);
  });
});

/** An instance (`reader`, with `env`) and a second one on the same database (`writer`). */
function useReaderAndWriter(env: Record<string, string> = {}) {
  const dbName = uniqueDbName();
  return {
    reader: useVerity({ dbName, env }),
    writer: useVerity({ dbName, keepDatabase: true }),
  };
}

describe('in-process copies across instances', () => {
  const { reader, writer } = useReaderAndWriter();

  it('shows on one instance every change made through another', async () => {
    const me = await writer.signUp();
    const author = await writer.signUp();
    const fan = await writer.signUp();
    await act(writer, me.token, 'follow', author.id);
    const truth = await post(writer, author.token, 'watched from afar');
    const other = await post(writer, author.token, 'soon gone');
    const node = async (id = truth.id) => {
      const result = await feed(reader, 'homeFeed', { token: me.token });
      expect(result.errors).toBeUndefined();
      const nodes = (result.data!['homeFeed'].edges as { node: Record<string, any> }[]).map(
        (edge) => edge.node,
      );
      return nodes.find((n) => n['id'] === id);
    };
    // Read twice: the second page comes from the reader's copies.
    await node();
    expect(await node()).toMatchObject({
      counts: { reactions: 0 },
      viewerReaction: null,
      viewerHasRetruthed: false,
    });
    const eventually = (id: string, expected: Record<string, unknown>) =>
      waitFor(async () => {
        const found = await node(id);
        try {
          expect(found).toMatchObject(expected);
          return true;
        } catch {
          return false;
        }
      });

    const rename = await writer.gql(
      `mutation { updateProfile(input: { displayName: "Far away" }) { displayName } }`,
      {},
      { token: author.token },
    );
    expect(rename.errors).toBeUndefined();
    await eventually(truth.id, { author: { displayName: 'Far away' } });

    await react(writer, fan.token, truth.id, 'WOW');
    await eventually(truth.id, { counts: { reactions: 1 }, viewerReaction: null });
    await react(writer, me.token, truth.id, 'LIKE');
    await eventually(truth.id, { counts: { reactions: 2 }, viewerReaction: 'LIKE' });
    await mutate(
      writer,
      me.token,
      `mutation($id: ID!) { retruth(input: { truthId: $id }) { retruth { id } } }`,
      truth.id,
    );
    await eventually(truth.id, { viewerHasRetruthed: true });

    await mutate(
      writer,
      author.token,
      `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
      other.id,
    );
    await waitFor(async () => (await node(other.id)) === undefined);

    await act(writer, me.token, 'mute', author.id);
    await waitFor(async () => (await node(truth.id)) === undefined);
  });
});

describe('with no in-process copies (NEAR_CACHE_ENTRIES=0)', () => {
  const { reader, writer } = useReaderAndWriter({ NEAR_CACHE_ENTRIES: '0' });

  it('keeps no copy, and shows every change made through another instance in the next page', async () => {
    const me = await writer.signUp();
    const author = await writer.signUp();
    await act(writer, me.token, 'follow', author.id);
    const truth = await post(writer, author.token, 'read from Redis every time');
    const node = async (server: TestServer) => {
      const result = await feed(server, 'homeFeed', { token: me.token });
      expect(result.errors).toBeUndefined();
      const edges = result.data!['homeFeed'].edges as { node: Record<string, any> }[];
      return edges.map((edge) => edge.node).find((n) => n['id'] === truth.id);
    };
    const held = (server: TestServer) =>
      server.app.internals.services.users.peek(userIdHex(author.id));

    // Read twice on each: the instance with the default keeps the author's record, this one not.
    for (const server of [writer, reader, writer, reader]) {
      expect(await node(server)).toMatchObject({ counts: { reactions: 0 } });
    }
    expect(held(writer)).toBeDefined();
    expect(held(reader)).toBeUndefined();

    const rename = await writer.gql(
      `mutation { updateProfile(input: { displayName: "Read again" }) { displayName } }`,
      {},
      { token: author.token },
    );
    expect(rename.errors).toBeUndefined();
    await react(writer, me.token, truth.id, 'LIKE');
    // No copy to wait for a notice about: the very next page shows both.
    expect(await node(reader)).toMatchObject({
      author: { displayName: 'Read again' },
      counts: { reactions: 1 },
      viewerReaction: 'LIKE',
    });
    expect(held(reader)).toBeUndefined();
  });
});
