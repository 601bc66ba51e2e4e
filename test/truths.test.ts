import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { toTruthWire, type TruthRecord } from '../src/modules/truths/index.js';
import { errorCodes } from './helpers/graphql.js';
import { useVerity } from './helpers/server.js';
import { post, truthFields, tryPost } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';

/** The ObjectId hex inside a truth's global ID. */
const truthHex = (id: string) => Buffer.from(id, 'base64url').toString('utf8').split(':')[1]!;

describe('truths', () => {
  const verity = useVerity();
  const truthCount = () => verity.app.internals.models.Truth.countDocuments().exec();

  it('posts a truth with its hashtags and the mentions of users that exist', async () => {
    const author = await verity.signUp();
    const friend = await verity.signUp();
    const truth = await post(
      verity,
      author.token,
      `Launch day! #Verity #launch #Verity @${friend.username.toUpperCase()} and @nobody_here_at_all`,
    );
    expect(truth).toMatchObject({
      kind: 'POST',
      hashtags: ['verity', 'launch'],
      mentions: [{ username: friend.username }],
      author: { username: author.username },
      counts: { replies: 0, retruths: 0, quotes: 0, reactions: 0, byKind: [] },
      viewerReaction: null,
      deletedAt: null,
    });
  });

  it('counts characters as code points: 1,000 emoji fit', async () => {
    const author = await verity.signUp();
    const truth = await post(verity, author.token, '🇺🇸'.repeat(500));
    expect(truth.text).toBe('🇺🇸'.repeat(500));
  });

  it('builds threads: replies know their ancestors, and the parent counts its replies', async () => {
    const a = await verity.signUp();
    const b = await verity.signUp();
    const root = await post(verity, a.token, 'root');
    const reply = await post(verity, b.token, 'reply', { replyToId: root.id });
    const nested = await post(verity, a.token, 'nested', { replyToId: reply.id });
    expect(reply.kind).toBe('REPLY');

    const thread = await verity.gql(
      `query($id: ID!) { thread(id: $id) { truth { text } ancestors { text } replies { edges { node { text } } } } }`,
      { id: nested.id },
    );
    expect(thread.data!['thread']).toEqual({
      truth: { text: 'nested' },
      ancestors: [{ text: 'root' }, { text: 'reply' }],
      replies: { edges: [] },
    });

    const rootThread = await verity.gql(
      `query($id: ID!) { thread(id: $id) { truth { counts { replies } } replies { edges { node { text } } } } }`,
      { id: root.id },
    );
    expect(rootThread.data!['thread']).toEqual({
      truth: { counts: { replies: 1 } },
      replies: { edges: [{ node: { text: 'reply' } }] },
    });
  });

  it('keeps a thread whole when a truth in it is deleted: the reply shows a placeholder', async () => {
    const a = await verity.signUp();
    const root = await post(verity, a.token, 'root #gone');
    const reply = await post(verity, a.token, 'reply to be deleted', { replyToId: root.id });
    await post(verity, a.token, 'reply to the deleted one', { replyToId: reply.id });
    const deleted = await verity.gql(
      `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
      { id: reply.id },
      { token: a.token },
    );
    expect(deleted.data).toEqual({ deleteTruth: { deletedTruthId: reply.id } });

    const thread = await verity.gql(
      `query($id: ID!) { thread(id: $id) { truth { counts { replies } } replies { edges { node { text deletedAt replies: counts { replies } } } } } }`,
      { id: root.id },
    );
    const edges = thread.data!['thread'].replies.edges;
    expect(edges).toHaveLength(1);
    expect(edges[0].node.text).toBe('');
    expect(edges[0].node.deletedAt).not.toBeNull();
    expect(thread.data!['thread'].truth.counts.replies).toBe(0);
  });

  it('quotes a truth and counts the quote', async () => {
    const a = await verity.signUp();
    const b = await verity.signUp();
    const original = await post(verity, a.token, 'quotable');
    const quote = await verity.gql(
      `mutation($input: PostTruthInput!) { postTruth(input: $input) { truth { kind text quoteOf { text counts { quotes } } } } }`,
      { input: { text: 'so true', quoteOfId: original.id } },
      { token: b.token },
    );
    expect(quote.data!['postTruth'].truth).toEqual({
      kind: 'QUOTE',
      text: 'so true',
      quoteOf: { text: 'quotable', counts: { quotes: 1 } },
    });
  });

  it('counts nothing for a deleted reply whose stored effects are finished late from the journal', async () => {
    const a = await verity.signUp();
    const root = await post(verity, a.token, 'root of a crash');
    const { models, model, redis } = verity.app.internals;
    const rootId = new Types.ObjectId(truthHex(root.id));
    // What a process killed right after the first step of a reply's effects leaves: the reply
    // (quoting its parent too) in MongoDB and its record in the read model, nothing counted.
    const reply: TruthRecord = {
      _id: new Types.ObjectId(),
      authorId: new Types.ObjectId(userIdHex(a.id)),
      kind: 'REPLY',
      text: 'stored, then the process died',
      hashtags: [],
      mentionIds: [],
      replyToId: rootId,
      ancestorIds: [rootId],
      quoteOfId: rootId,
      retruthOfId: null,
      createdAt: new Date(),
      deletedAt: null,
    };
    const replyId = reply._id.toHexString();
    await models.Truth.collection.insertOne(reply);
    await redis.command.set(
      `${model.prefix}truth:{${replyId}}`,
      JSON.stringify(toTruthWire(reply)),
    );
    const deleted = await verity.gql(
      `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
      { id: Buffer.from(`Truth:${replyId}`).toString('base64url') },
      { token: a.token },
    );
    expect(deleted.errors).toBeUndefined();

    // The journal's sweeper finishes the reply's effects after its deletion.
    const entry = `truth:${replyId}`;
    await redis.command.zadd(`${redis.namespace}:journal`, Date.now() - 1, entry);
    await waitFor(
      async () => (await redis.command.zscore(`${redis.namespace}:journal`, entry)) === null,
      { timeoutMs: 20_000, message: 'the journal entry was never finished' },
    );

    const read = await verity.gql(
      `query($id: ID!, $u: String!) {
        thread(id: $id) { truth { counts { replies quotes } } replies { edges { node { deletedAt } } } }
        user(username: $u) { truthCount }
      }`,
      { id: root.id, u: a.username },
    );
    expect(read.data!['thread'].truth.counts).toEqual({ replies: 0, quotes: 0 });
    expect(read.data!['thread'].replies.edges).toHaveLength(1);
    expect(read.data!['thread'].replies.edges[0].node.deletedAt).not.toBeNull();
    expect(read.data!['user']).toEqual({ truthCount: 1 });
  });

  describe('retruths', () => {
    const retruthMutation = `mutation($id: ID!) { retruth(input: { truthId: $id }) { retruth { id kind retruthOf { id } } original { counts { retruths } viewerHasRetruthed } } }`;
    const undoMutation = `mutation($id: ID!) { undoRetruth(input: { truthId: $id }) { original { counts { retruths } viewerHasRetruthed } } }`;

    it('retruths once however often it is asked, and takes it back', async () => {
      const a = await verity.signUp();
      const b = await verity.signUp();
      const original = await post(verity, a.token, 'worth repeating');
      const [first, second] = await Promise.all([
        verity.gql(retruthMutation, { id: original.id }, { token: b.token }),
        verity.gql(retruthMutation, { id: original.id }, { token: b.token }),
      ]);
      expect(first.data!['retruth'].retruth.id).toBe(second.data!['retruth'].retruth.id);
      expect(first.data!['retruth'].retruth.retruthOf.id).toBe(original.id);
      const again = await verity.gql(retruthMutation, { id: original.id }, { token: b.token });
      expect(again.data!['retruth'].original).toEqual({
        counts: { retruths: 1 },
        viewerHasRetruthed: true,
      });

      const undo = await verity.gql(undoMutation, { id: original.id }, { token: b.token });
      expect(undo.data!['undoRetruth'].original).toEqual({
        counts: { retruths: 0 },
        viewerHasRetruthed: false,
      });
      const undoAgain = await verity.gql(undoMutation, { id: original.id }, { token: b.token });
      expect(undoAgain.data!['undoRetruth'].original.counts.retruths).toBe(0);
    });

    it('retruths the original when asked to retruth a retruth', async () => {
      const a = await verity.signUp();
      const b = await verity.signUp();
      const c = await verity.signUp();
      const original = await post(verity, a.token, 'original');
      const byB = await verity.gql(retruthMutation, { id: original.id }, { token: b.token });
      const byC = await verity.gql(
        retruthMutation,
        { id: byB.data!['retruth'].retruth.id },
        { token: c.token },
      );
      expect(byC.data!['retruth'].retruth.retruthOf.id).toBe(original.id);
      expect(byC.data!['retruth'].original.counts.retruths).toBe(2);
    });
  });

  describe('idempotency keys', () => {
    it('returns the first truth for a retry with the same key, creating nothing', async () => {
      const a = await verity.signUp();
      const first = await post(verity, a.token, 'exactly once', { idempotencyKey: 'key-1' });
      const before = await truthCount();
      const retry = await post(verity, a.token, 'exactly once', { idempotencyKey: 'key-1' });
      expect(retry.id).toBe(first.id);
      expect(await truthCount()).toBe(before);
    });

    it('creates one truth for concurrent requests with the same key', async () => {
      const a = await verity.signUp();
      const before = await truthCount();
      const results = await Promise.all(
        Array.from({ length: 5 }, () =>
          tryPost(verity, a.token, { text: 'racing', idempotencyKey: 'race' }),
        ),
      );
      const ids = new Set(results.map((r) => r.data!['postTruth'].truth.id));
      expect(ids.size).toBe(1);
      expect(await truthCount()).toBe(before + 1);
      const me = await verity.gql('{ me { truthCount } }', {}, { token: a.token });
      expect(me.data!['me'].truthCount).toBe(1);
    });

    it('answers CONFLICT for the same key with different content, creating nothing', async () => {
      const a = await verity.signUp();
      await post(verity, a.token, 'first content', { idempotencyKey: 'k' });
      const before = await truthCount();
      const result = await tryPost(verity, a.token, { text: 'other content', idempotencyKey: 'k' });
      expect(errorCodes(result)).toEqual(['CONFLICT']);
      expect(await truthCount()).toBe(before);
    });

    it('keeps keys per user: the same key from someone else is a new truth', async () => {
      const a = await verity.signUp();
      const b = await verity.signUp();
      const first = await post(verity, a.token, 'mine', { idempotencyKey: 'shared' });
      const second = await post(verity, b.token, 'mine', { idempotencyKey: 'shared' });
      expect(second.id).not.toBe(first.id);
    });
  });

  describe('rejects bad input with a typed error and changes nothing', () => {
    it.each([
      ['empty text', { text: '' }, 'BAD_USER_INPUT'],
      ['only whitespace', { text: '   \n ' }, 'BAD_USER_INPUT'],
      ['1,001 characters', { text: 'x'.repeat(1001) }, 'BAD_USER_INPUT'],
      [
        'a reply to an unknown truth',
        { text: 'hi', replyToId: 'VHJ1dGg6MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3' },
        'NOT_FOUND',
      ],
      [
        'a quote of an unknown truth',
        { text: 'hi', quoteOfId: 'VHJ1dGg6MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3' },
        'NOT_FOUND',
      ],
      [
        'a reply to something that is not a truth id',
        { text: 'hi', replyToId: 'garbage' },
        'BAD_USER_INPUT',
      ],
    ])('%s', async (_label, input, code) => {
      const a = await verity.signUp();
      const before = await truthCount();
      const result = await tryPost(verity, a.token, input);
      expect(errorCodes(result)).toEqual([code]);
      expect(await truthCount()).toBe(before);
    });

    it('a reply to, or a quote of, a deleted truth', async () => {
      const a = await verity.signUp();
      const gone = await post(verity, a.token, 'soon gone');
      await verity.gql(
        `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
        { id: gone.id },
        { token: a.token },
      );
      const before = await truthCount();
      expect(
        errorCodes(await tryPost(verity, a.token, { text: 'hi', replyToId: gone.id })),
      ).toEqual(['NOT_FOUND']);
      expect(
        errorCodes(await tryPost(verity, a.token, { text: 'hi', quoteOfId: gone.id })),
      ).toEqual(['NOT_FOUND']);
      expect(await truthCount()).toBe(before);
    });

    it("deleting someone else's truth", async () => {
      const a = await verity.signUp();
      const b = await verity.signUp();
      const truth = await post(verity, a.token, 'mine to delete');
      const result = await verity.gql(
        `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
        { id: truth.id },
        { token: b.token },
      );
      expect(errorCodes(result)).toEqual(['FORBIDDEN']);
      const still = await verity.gql(`query($id: ID!) { truth(id: $id) { text deletedAt } }`, {
        id: truth.id,
      });
      expect(still.data!['truth']).toEqual({ text: 'mine to delete', deletedAt: null });
    });

    it('posting without a session', async () => {
      const before = await truthCount();
      const result = await verity.gql(
        `mutation { postTruth(input: { text: "anonymous" }) { truth { id } } }`,
      );
      expect(errorCodes(result)).toEqual(['UNAUTHENTICATED']);
      expect(await truthCount()).toBe(before);
    });
  });

  it('resolves truths by global id through node() and truth()', async () => {
    const a = await verity.signUp();
    const truth = await post(verity, a.token, 'findable');
    const result = await verity.gql(
      `query($id: ID!) { node(id: $id) { ... on Truth { text } } truth(id: $id) { ${truthFields} } }`,
      { id: truth.id },
    );
    expect(result.data!['node']).toEqual({ text: 'findable' });
    expect(result.data!['truth'].text).toBe('findable');
  });
});
