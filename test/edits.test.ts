import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { errorCodes } from './helpers/graphql.js';
import { startVerity, useVerity } from './helpers/server.js';
import {
  act,
  channelReady,
  feedTexts,
  homeChannel,
  loseRedisKeys,
  post,
  react,
} from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';

/** The ObjectId hex inside a truth's global ID. */
const truthHex = (id: string) => Buffer.from(id, 'base64url').toString('utf8').split(':')[1]!;

const editMutation = `mutation($input: EditTruthInput!) {
  editTruth(input: $input) { truth { id text hashtags editedAt mentions { username } } }
}`;

const truthQuery = `query($id: ID!) {
  truth(id: $id) {
    text hashtags editedAt
    edits { revision text createdAt }
    counts { replies reactions }
  }
}`;

const homeUpdates = `subscription {
  homeFeedUpdated {
    __typename
    ... on TruthPosted { truth { id text editedAt } }
    ... on TruthEdited { truth { id text hashtags editedAt viewerReaction viewerHasBookmarked } }
    ... on TruthDeleted { truthId }
  }
}`;

describe('editing a truth', () => {
  const verity = useVerity();
  const editCount = () => verity.app.internals.models.TruthEdit.countDocuments().exec();
  const edit = (token: string, id: string, text: string) =>
    verity.gql(editMutation, { input: { id, text } }, { token });
  const readTruth = async (id: string) => (await verity.gql(truthQuery, { id })).data!['truth'];
  const mentionsOf = async (token: string) => {
    const result = await verity.gql(
      '{ notifications(first: 20) { edges { node { kind truth { id } } } } }',
      {},
      { token },
    );
    return result.data!['notifications'].edges.map(
      (edge: { node: { kind: string; truth: { id: string } | null } }) => edge.node,
    );
  };

  it('delivers the new text live to an open home feed, and keeps the old one in the history', async () => {
    const reader = await verity.signUp();
    const author = await verity.signUp();
    const mentioned = await verity.signUp();
    await act(verity, reader.token, 'follow', author.id);
    const client = verity.connect(reader.token);
    const home = verity.subscribe(client, homeUpdates);
    const tagged = verity.subscribe(
      client,
      'subscription { hashtagFeedUpdated(tag: "alphaedit") { __typename ... on TruthEdited { truth { id hashtags } } } }',
    );
    await channelReady(verity, homeChannel(reader.id));
    await channelReady(verity, 'hashtagFeed:alphaedit');

    const truth = await post(verity, author.token, 'first draft #alphaedit');
    expect((await home.next()).data!['homeFeedUpdated']).toMatchObject({
      __typename: 'TruthPosted',
      truth: { id: truth.id, editedAt: null },
    });
    expect((await tagged.next()).data!['hashtagFeedUpdated'].__typename).toBe('TruthPosted');
    await react(verity, reader.token, truth.id, 'LIKE');
    const bookmarked = await verity.gql(
      `mutation($id: ID!) { bookmarkTruth(input: { truthId: $id }) { truth { id } } }`,
      { id: truth.id },
      { token: reader.token },
    );
    expect(bookmarked.errors).toBeUndefined();
    await post(verity, reader.token, 'a reply', { replyToId: truth.id });
    expect((await home.next()).data!['homeFeedUpdated'].truth.text).toBe('a reply');

    const edited = await edit(
      author.token,
      truth.id,
      `  second draft #betaedit @${mentioned.username}  `,
    );
    expect(edited.errors).toBeUndefined();
    expect(edited.data!['editTruth'].truth).toMatchObject({
      id: truth.id,
      text: `second draft #betaedit @${mentioned.username}`,
      hashtags: ['betaedit'],
      mentions: [{ username: mentioned.username }],
    });
    const live = (await home.next()).data!['homeFeedUpdated'];
    expect(live).toEqual({
      __typename: 'TruthEdited',
      truth: {
        id: truth.id,
        text: `second draft #betaedit @${mentioned.username}`,
        hashtags: ['betaedit'],
        editedAt: edited.data!['editTruth'].truth.editedAt,
        viewerReaction: 'LIKE',
        viewerHasBookmarked: true,
      },
    });
    expect(live.truth.editedAt).not.toBeNull();
    // The feed of a hashtag the truth dropped hears of it too: its hashtags say it left.
    expect((await tagged.next()).data!['hashtagFeedUpdated']).toEqual({
      __typename: 'TruthEdited',
      truth: { id: truth.id, hashtags: ['betaedit'] },
    });

    const read = await readTruth(truth.id);
    expect(read).toMatchObject({
      text: `second draft #betaedit @${mentioned.username}`,
      editedAt: live.truth.editedAt,
      counts: { replies: 1, reactions: 1 },
    });
    expect(read.edits).toEqual([
      { revision: 0, text: 'first draft #alphaedit', createdAt: truth['createdAt'] },
    ]);

    // Hashtag pages follow the text; the newly mentioned user is told once.
    expect(await feedTexts(verity, 'hashtagFeed', { tag: 'alphaedit' })).toEqual([]);
    expect(await feedTexts(verity, 'hashtagFeed', { tag: 'betaedit' })).toEqual([read.text]);
    expect(await mentionsOf(mentioned.token)).toEqual([
      { kind: 'MENTIONED', truth: { id: truth.id } },
    ]);

    // A third version: the history keeps both earlier ones, newest first; a user mentioned
    // before is not told again.
    const third = await edit(author.token, truth.id, `third @${mentioned.username}`);
    expect(third.errors).toBeUndefined();
    expect((await readTruth(truth.id)).edits.map((e: { text: string }) => e.text)).toEqual([
      `second draft #betaedit @${mentioned.username}`,
      'first draft #alphaedit',
    ]);
    expect(await mentionsOf(mentioned.token)).toHaveLength(1);
    home.close();
    tagged.close();
  });

  it('shows the new text through retruths and quotes of the truth', async () => {
    const author = await verity.signUp();
    const fan = await verity.signUp();
    const truth = await post(verity, author.token, 'quoted as posted');
    const retruth = await verity.gql(
      `mutation($id: ID!) { retruth(input: { truthId: $id }) { retruth { id } } }`,
      { id: truth.id },
      { token: fan.token },
    );
    const quote = await post(verity, fan.token, 'quoting it', { quoteOfId: truth.id });
    expect((await edit(author.token, truth.id, 'quoted as edited')).errors).toBeUndefined();
    const seen = await verity.gql(
      `query($r: ID!, $q: ID!) {
        r: truth(id: $r) { text retruthOf { text editedAt } }
        q: truth(id: $q) { text editedAt quoteOf { text } }
      }`,
      { r: retruth.data!['retruth'].retruth.id, q: quote.id },
    );
    expect(seen.data!['r']).toMatchObject({ text: '', retruthOf: { text: 'quoted as edited' } });
    expect(seen.data!['r'].retruthOf.editedAt).not.toBeNull();
    expect(seen.data!['q']).toEqual({
      text: 'quoting it',
      editedAt: null,
      quoteOf: { text: 'quoted as edited' },
    });
  });

  it('changes nothing when the same text is sent again (a retry)', async () => {
    const author = await verity.signUp();
    const truth = await post(verity, author.token, 'once');
    expect((await edit(author.token, truth.id, 'twice')).errors).toBeUndefined();
    const before = await editCount();
    const again = await edit(author.token, truth.id, 'twice');
    expect(again.errors).toBeUndefined();
    expect(await editCount()).toBe(before);
    expect((await readTruth(truth.id)).edits).toHaveLength(1);
  });

  it('refuses edits by someone else, of a retruth, of a deleted truth or with bad text, and changes nothing', async () => {
    const author = await verity.signUp();
    const other = await verity.signUp();
    const truth = await post(verity, author.token, 'mine alone');
    const retruth = await verity.gql(
      `mutation($id: ID!) { retruth(input: { truthId: $id }) { retruth { id } } }`,
      { id: truth.id },
      { token: other.token },
    );
    const gone = await post(verity, author.token, 'soon gone');
    await verity.gql(
      `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
      { id: gone.id },
      { token: author.token },
    );
    const before = await editCount();

    expect(errorCodes(await edit(other.token, truth.id, 'hijacked'))).toEqual(['FORBIDDEN']);
    expect(
      errorCodes(await edit(other.token, retruth.data!['retruth'].retruth.id, 'retruth text')),
    ).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await edit(author.token, gone.id, 'back again'))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await edit(author.token, truth.id, '   '))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await edit(author.token, truth.id, 'x'.repeat(1_001)))).toEqual([
      'BAD_USER_INPUT',
    ]);
    expect(
      errorCodes(await verity.gql(editMutation, { input: { id: truth.id, text: 'a' } })),
    ).toEqual(['UNAUTHENTICATED']);

    expect(await editCount()).toBe(before);
    expect(await readTruth(truth.id)).toMatchObject({
      text: 'mine alone',
      editedAt: null,
      edits: [],
    });
  });

  it('refuses an edit after the window, and another instance sees an edit at once', async () => {
    const author = await verity.signUp();
    const truth = await post(verity, author.token, 'edit me in time');
    const late = await startVerity({
      dbName: verity.dbName,
      keepDatabase: true,
      env: { TRUTH_EDIT_WINDOW_SECONDS: '0' },
    });
    try {
      // The other instance holds the truth in its near cache from this read.
      const first = await late.gql(truthQuery, { id: truth.id });
      expect(first.data!['truth'].text).toBe('edit me in time');

      const before = await editCount();
      const refused = await late.gql(
        editMutation,
        { input: { id: truth.id, text: 'too late' } },
        { token: author.token },
      );
      expect(errorCodes(refused)).toEqual(['FORBIDDEN']);
      expect(await editCount()).toBe(before);
      expect((await late.gql(truthQuery, { id: truth.id })).data!['truth'].text).toBe(
        'edit me in time',
      );

      expect((await edit(author.token, truth.id, 'edited in time')).errors).toBeUndefined();
      const seen = await late.gql(truthQuery, { id: truth.id });
      expect(seen.data!['truth']).toMatchObject({ text: 'edited in time' });
      expect(seen.data!['truth'].editedAt).not.toBeNull();
    } finally {
      await late.stop();
    }
  });

  it('lets one of two racing edits of the same version win; the other is a CONFLICT', async () => {
    const author = await verity.signUp();
    const truth = await post(verity, author.token, 'raced');
    const results = await Promise.all(
      ['left', 'right', 'middle'].map((text) => edit(author.token, truth.id, text)),
    );
    const won = results.filter((result) => !result.errors);
    for (const result of results.filter((r) => r.errors)) {
      expect(errorCodes(result)).toEqual(['CONFLICT']);
    }
    expect(won.length).toBeGreaterThan(0);
    // Each stored edit has a revision of its own: as many as won, numbered from 1.
    const stored = await verity.app.internals.models.TruthEdit.find({ truthId: truthHex(truth.id) })
      .lean()
      .exec();
    expect(stored.map((e) => e.revision).sort()).toEqual(won.map((_, i) => i + 1));
    const read = await readTruth(truth.id);
    expect(read.edits).toHaveLength(won.length);
    expect(won.map((r) => r.data!['editTruth'].truth.text)).toContain(read.text);
  });

  it('finishes an edit whose process died after storing it, from its journal entry', async () => {
    const author = await verity.signUp();
    const truth = await post(verity, author.token, 'before the crash #epsilonedit');
    const { models, redis } = verity.app.internals;
    const hex = truthHex(truth.id);
    // What a process killed right after the MongoDB insert leaves: the edit, and the journal
    // entry it wrote before, now overdue.
    await models.TruthEdit.collection.insertOne({
      _id: `${hex}:1`,
      truthId: new Types.ObjectId(hex),
      authorId: new Types.ObjectId(userIdHex(author.id)),
      revision: 1,
      text: 'after the crash #zetaedit',
      hashtags: ['zetaedit'],
      mentionIds: [],
      at: new Date(),
      attempt: 'a1',
    } as never);
    const entry = `edit:${hex}:1:a1`;
    await redis.command.zadd(`${redis.namespace}:journal`, Date.now() - 1, entry);

    await waitFor(async () => (await readTruth(truth.id)).text === 'after the crash #zetaedit', {
      timeoutMs: 20_000,
      message: 'the journal entry was never finished',
    });
    expect((await readTruth(truth.id)).edits).toEqual([
      { revision: 0, text: 'before the crash #epsilonedit', createdAt: truth['createdAt'] },
    ]);
    expect(await feedTexts(verity, 'hashtagFeed', { tag: 'zetaedit' })).toEqual([
      'after the crash #zetaedit',
    ]);
    await waitFor(
      async () => (await redis.command.zscore(`${redis.namespace}:journal`, entry)) === null,
    );
  });

  it('keeps edits, history and hashtag pages when Redis loses everything', async () => {
    const author = await verity.signUp();
    const truth = await post(verity, author.token, 'before the loss #gammaedit');
    expect(
      (await edit(author.token, truth.id, 'after the edit #deltaedit')).errors,
    ).toBeUndefined();
    expect(await loseRedisKeys(verity, '*')).toBeGreaterThan(0);

    const read = await readTruth(truth.id);
    expect(read).toMatchObject({ text: 'after the edit #deltaedit', hashtags: ['deltaedit'] });
    expect(read.editedAt).not.toBeNull();
    expect(read.edits).toEqual([
      { revision: 0, text: 'before the loss #gammaedit', createdAt: truth['createdAt'] },
    ]);
    expect(await feedTexts(verity, 'hashtagFeed', { tag: 'gammaedit' })).toEqual([]);
    expect(await feedTexts(verity, 'hashtagFeed', { tag: 'deltaedit' })).toEqual([
      'after the edit #deltaedit',
    ]);
    // The next edit takes the next revision, not one a lost read model would have reused.
    expect((await edit(author.token, truth.id, 'and again')).errors).toBeUndefined();
    expect((await readTruth(truth.id)).edits).toHaveLength(2);
  });
});
