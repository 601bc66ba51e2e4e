import { describe, expect, it } from 'vitest';
import { errorCodes } from './helpers/graphql.js';
import { useVerity } from './helpers/server.js';
import { loseRedisKeys, post, react } from './helpers/social.js';

const countsQuery = `query($id: ID!) { truth(id: $id) { counts { reactions byKind { kind count } } viewerReaction } }`;

describe('reactions', () => {
  const verity = useVerity();
  const reactionCount = () => verity.app.internals.models.ReactionEvent.countDocuments().exec();

  it('sets, replaces and removes a reaction, with counts by kind and the viewer’s own', async () => {
    const author = await verity.signUp();
    const fan = await verity.signUp();
    const truth = await post(verity, author.token, 'react to me');

    expect(await react(verity, fan.token, truth.id, 'LIKE')).toEqual({
      counts: { reactions: 1, byKind: [{ kind: 'LIKE', count: 1 }] },
      viewerReaction: 'LIKE',
    });
    expect(await react(verity, fan.token, truth.id, 'LOVE')).toEqual({
      counts: { reactions: 1, byKind: [{ kind: 'LOVE', count: 1 }] },
      viewerReaction: 'LOVE',
    });
    expect(await react(verity, fan.token, truth.id, 'LOVE')).toMatchObject({
      counts: { reactions: 1 },
    });

    const seenByAuthor = await verity.gql(countsQuery, { id: truth.id }, { token: author.token });
    expect(seenByAuthor.data!['truth']).toEqual({
      counts: { reactions: 1, byKind: [{ kind: 'LOVE', count: 1 }] },
      viewerReaction: null,
    });

    const removed = await verity.gql(
      `mutation($id: ID!) { removeReaction(input: { truthId: $id }) { truth { counts { reactions } viewerReaction } } }`,
      { id: truth.id },
      { token: fan.token },
    );
    expect(removed.data!['removeReaction'].truth).toEqual({
      counts: { reactions: 0 },
      viewerReaction: null,
    });
  });

  it('never loses a count when many people react to one truth at once', async () => {
    const author = await verity.signUp();
    const truth = await post(verity, author.token, 'viral');
    const fans = await Promise.all(Array.from({ length: 40 }, () => verity.signUp()));
    const kinds = ['LIKE', 'LOVE', 'HAHA', 'WOW'];
    await Promise.all(
      fans.map((fan, i) => react(verity, fan.token, truth.id, kinds[i % kinds.length]!)),
    );
    const result = await verity.gql(countsQuery, { id: truth.id });
    expect(result.data!['truth'].counts).toEqual({
      reactions: 40,
      byKind: kinds.map((kind) => ({ kind, count: 10 })),
    });
  });

  it('keeps the count right when one person changes their reaction many times at once', async () => {
    const author = await verity.signUp();
    const fan = await verity.signUp();
    const truth = await post(verity, author.token, 'indecisive');
    const kinds = ['LIKE', 'LOVE', 'HAHA', 'WOW', 'SAD', 'ANGRY', 'LIKE', 'LOVE'];
    await Promise.all(kinds.map((kind) => react(verity, fan.token, truth.id, kind)));
    const result = await verity.gql(countsQuery, { id: truth.id }, { token: fan.token });
    const { counts, viewerReaction } = result.data!['truth'];
    expect(counts.reactions).toBe(1);
    expect(counts.byKind).toEqual([{ kind: viewerReaction, count: 1 }]);
  });

  it('rebuilds counts from MongoDB when Redis has lost everything', async () => {
    const author = await verity.signUp();
    const truth = await post(verity, author.token, 'remembered');
    const fans = await Promise.all(Array.from({ length: 3 }, () => verity.signUp()));
    for (const fan of fans) await react(verity, fan.token, truth.id, 'WOW');
    expect(await loseRedisKeys(verity, '*')).toBeGreaterThan(0);
    const result = await verity.gql(countsQuery, { id: truth.id });
    expect(result.data!['truth'].counts).toEqual({
      reactions: 3,
      byKind: [{ kind: 'WOW', count: 3 }],
    });
    const me = await verity.gql('{ me { truthCount } }', {}, { token: author.token });
    expect(me.data!['me'].truthCount).toBe(1);
  });

  it('reacts to the original when given a retruth', async () => {
    const author = await verity.signUp();
    const fan = await verity.signUp();
    const truth = await post(verity, author.token, 'original');
    const retruth = await verity.gql(
      `mutation($id: ID!) { retruth(input: { truthId: $id }) { retruth { id } } }`,
      { id: truth.id },
      { token: fan.token },
    );
    await react(verity, fan.token, retruth.data!['retruth'].retruth.id, 'LIKE');
    const result = await verity.gql(countsQuery, { id: truth.id });
    expect(result.data!['truth'].counts.reactions).toBe(1);
  });

  describe('rejects bad input with a typed error and changes nothing', () => {
    it('an unknown reaction kind', async () => {
      const author = await verity.signUp();
      const truth = await post(verity, author.token, 'x');
      const before = await reactionCount();
      const asVariable = await verity.gql(
        `mutation($input: ReactInput!) { react(input: $input) { truth { id } } }`,
        { input: { truthId: truth.id, kind: 'DISLIKE' } },
        { token: author.token },
      );
      expect(errorCodes(asVariable)).toEqual(['BAD_USER_INPUT']);
      const asLiteral = await verity.gql(
        `mutation($id: ID!) { react(input: { truthId: $id, kind: MEH }) { truth { id } } }`,
        { id: truth.id },
        { token: author.token },
      );
      expect(errorCodes(asLiteral)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(await reactionCount()).toBe(before);
    });

    it('a reaction to an unknown or deleted truth', async () => {
      const author = await verity.signUp();
      const truth = await post(verity, author.token, 'short-lived');
      await verity.gql(
        `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
        { id: truth.id },
        { token: author.token },
      );
      const before = await reactionCount();
      const reactTo = (id: string) =>
        verity.gql(
          `mutation($id: ID!) { react(input: { truthId: $id, kind: LIKE }) { truth { id } } }`,
          { id },
          { token: author.token },
        );
      expect(errorCodes(await reactTo(truth.id))).toEqual(['NOT_FOUND']);
      expect(errorCodes(await reactTo('VHJ1dGg6MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3'))).toEqual([
        'NOT_FOUND',
      ]);
      expect(await reactionCount()).toBe(before);
    });
  });
});
