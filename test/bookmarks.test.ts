import { describe, expect, it } from 'vitest';
import { errorCodes, type GraphQLResponse } from './helpers/graphql.js';
import { useVerity } from './helpers/server.js';
import { loseRedisKeys, post } from './helpers/social.js';

const bookmarksQuery = `query($first: Int, $after: String) {
  bookmarks(first: $first, after: $after) {
    edges { cursor node { id text viewerHasBookmarked } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const pinnedQuery = `query($username: String!) {
  user(username: $username) { pinnedTruths { id text } }
}`;

describe('bookmarks', () => {
  const verity = useVerity();
  const bookmarkCount = () => verity.app.internals.models.BookmarkEvent.countDocuments().exec();

  const mark = async (token: string, truthId: string, on = true) => {
    const field = on ? 'bookmarkTruth' : 'unbookmarkTruth';
    const result = await verity.gql(
      `mutation($id: ID!) { ${field}(input: { truthId: $id }) { truth { id viewerHasBookmarked } } }`,
      { id: truthId },
      { token },
    );
    expect(result.errors).toBeUndefined();
    return result.data![field].truth;
  };

  /** Every page of the viewer's bookmarks, `first` at a time, following `endCursor`. */
  const allPages = async (token: string, first: number) => {
    const pages: string[][] = [];
    let after: string | null = null;
    for (;;) {
      const result: GraphQLResponse = await verity.gql(bookmarksQuery, { first, after }, { token });
      expect(result.errors).toBeUndefined();
      const connection: {
        edges: { node: { text: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string };
      } = result.data!['bookmarks'];
      pages.push(connection.edges.map((edge) => edge.node.text));
      if (!connection.pageInfo.hasNextPage) return pages;
      after = connection.pageInfo.endCursor;
    }
  };

  it('pages through bookmarks newest first with after, without deleted truths', async () => {
    const author = await verity.signUp();
    const reader = await verity.signUp();
    const truths = [];
    for (let i = 0; i < 7; i++) truths.push(await post(verity, author.token, `saved ${i}`));
    // Bookmarked in another order than posted: the page follows when they were bookmarked.
    for (const i of [3, 0, 6, 1, 5, 2, 4]) {
      expect(await mark(reader.token, truths[i]!.id)).toEqual({
        id: truths[i]!.id,
        viewerHasBookmarked: true,
      });
    }
    // Bookmarking again changes nothing.
    const before = await bookmarkCount();
    await mark(reader.token, truths[4]!.id);
    expect(await bookmarkCount()).toBe(before);

    expect(await allPages(reader.token, 3)).toEqual([
      ['saved 4', 'saved 2', 'saved 5'],
      ['saved 1', 'saved 6', 'saved 0'],
      ['saved 3'],
    ]);

    await mark(reader.token, truths[5]!.id, false);
    await mark(reader.token, truths[5]!.id, false);
    await verity.gql(
      `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
      { id: truths[1]!.id },
      { token: author.token },
    );
    expect(await allPages(reader.token, 2)).toEqual([
      ['saved 4', 'saved 2'],
      ['saved 6', 'saved 0'],
      ['saved 3'],
    ]);
    const seen = await verity.gql(
      `query($id: ID!) { truth(id: $id) { viewerHasBookmarked } }`,
      { id: truths[5]!.id },
      { token: reader.token },
    );
    expect(seen.data!['truth'].viewerHasBookmarked).toBe(false);
  });

  it('keeps bookmarks private to their owner', async () => {
    const author = await verity.signUp();
    const owner = await verity.signUp();
    const other = await verity.signUp();
    const truth = await post(verity, author.token, 'mine to keep');
    await mark(owner.token, truth.id);

    expect(errorCodes(await verity.gql(bookmarksQuery, {}))).toEqual(['UNAUTHENTICATED']);
    const others = await verity.gql(bookmarksQuery, {}, { token: other.token });
    expect(others.data!['bookmarks'].edges).toEqual([]);
    const asOther = await verity.gql(
      `query($id: ID!) { truth(id: $id) { viewerHasBookmarked } }`,
      { id: truth.id },
      { token: other.token },
    );
    expect(asOther.data!['truth'].viewerHasBookmarked).toBe(false);
    const anonymous = await verity.gql(
      `query($id: ID!) { truth(id: $id) { viewerHasBookmarked } }`,
      { id: truth.id },
    );
    expect(anonymous.data!['truth'].viewerHasBookmarked).toBe(false);
    const refused = await verity.gql(
      `mutation($id: ID!) { bookmarkTruth(input: { truthId: $id }) { truth { id } } }`,
      { id: truth.id },
    );
    expect(errorCodes(refused)).toEqual(['UNAUTHENTICATED']);
  });

  it('pins up to three of the author’s own truths in pin order; a fourth is refused', async () => {
    const author = await verity.signUp();
    const other = await verity.signUp();
    const truths = [];
    for (let i = 0; i < 5; i++) truths.push(await post(verity, author.token, `pin ${i}`));
    const reply = await post(verity, author.token, 'a reply', { replyToId: truths[0]!.id });
    const theirs = await post(verity, other.token, 'not yours');
    const pin = (token: string, id: string, field = 'pinTruth') =>
      verity.gql(
        `mutation($id: ID!) { ${field}(input: { truthId: $id }) { pinnedTruths { text } } }`,
        { id },
        { token },
      );
    const pinnedTexts = async () =>
      (await verity.gql(pinnedQuery, { username: author.username })).data!['user'].pinnedTruths.map(
        (truth: { text: string }) => truth.text,
      );
    const pinCount = () => verity.app.internals.models.PinEvent.countDocuments().exec();

    for (const i of [2, 0, 4])
      expect((await pin(author.token, truths[i]!.id)).errors).toBeUndefined();
    expect(await pinnedTexts()).toEqual(['pin 2', 'pin 0', 'pin 4']);

    const before = await pinCount();
    expect(errorCodes(await pin(author.token, truths[1]!.id))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await pin(author.token, reply.id))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await pin(author.token, theirs.id))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await pin(other.token, truths[3]!.id))).toEqual(['FORBIDDEN']);
    expect((await pin(author.token, truths[0]!.id)).errors).toBeUndefined();
    expect(await pinCount()).toBe(before);
    expect(await pinnedTexts()).toEqual(['pin 2', 'pin 0', 'pin 4']);

    expect((await pin(author.token, truths[0]!.id, 'unpinTruth')).data!['unpinTruth']).toEqual({
      pinnedTruths: [{ text: 'pin 2' }, { text: 'pin 4' }],
    });
    expect((await pin(author.token, truths[3]!.id)).errors).toBeUndefined();
    expect(await pinnedTexts()).toEqual(['pin 2', 'pin 4', 'pin 3']);

    // A deleted truth drops out, and frees its place.
    await verity.gql(
      `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
      { id: truths[4]!.id },
      { token: author.token },
    );
    expect(await pinnedTexts()).toEqual(['pin 2', 'pin 3']);
    expect((await pin(author.token, truths[1]!.id)).errors).toBeUndefined();
    expect(await pinnedTexts()).toEqual(['pin 2', 'pin 3', 'pin 1']);
  });

  it('never lets racing pins pass the limit of three', async () => {
    const author = await verity.signUp();
    const truths = [];
    for (let i = 0; i < 6; i++) truths.push(await post(verity, author.token, `raced pin ${i}`));
    const results = await Promise.all(
      truths.map((truth) =>
        verity.gql(
          `mutation($id: ID!) { pinTruth(input: { truthId: $id }) { pinnedTruths { id } } }`,
          { id: truth.id },
          { token: author.token },
        ),
      ),
    );
    const refused = results.filter((result) => result.errors);
    for (const result of refused) {
      expect(['BAD_USER_INPUT', 'CONFLICT']).toContain(errorCodes(result)[0]);
    }
    const pinned = await verity.gql(pinnedQuery, { username: author.username });
    expect(pinned.data!['user'].pinnedTruths).toHaveLength(3);
    expect(results.length - refused.length).toBe(3);
  });

  it('rebuilds bookmarks and pins from MongoDB when Redis loses everything', async () => {
    const author = await verity.signUp();
    const reader = await verity.signUp();
    const truths = [];
    for (let i = 0; i < 3; i++) truths.push(await post(verity, author.token, `kept ${i}`));
    for (const truth of truths) await mark(reader.token, truth.id);
    await mark(reader.token, truths[1]!.id, false);
    for (const truth of [truths[2]!, truths[0]!]) {
      const pinned = await verity.gql(
        `mutation($id: ID!) { pinTruth(input: { truthId: $id }) { pinnedTruths { id } } }`,
        { id: truth.id },
        { token: author.token },
      );
      expect(pinned.errors).toBeUndefined();
    }

    expect(await loseRedisKeys(verity, '*')).toBeGreaterThan(0);

    expect(await allPages(reader.token, 1)).toEqual([['kept 2'], ['kept 0']]);
    const pinned = await verity.gql(pinnedQuery, { username: author.username });
    expect(pinned.data!['user'].pinnedTruths.map((t: { text: string }) => t.text)).toEqual([
      'kept 2',
      'kept 0',
    ]);
    // Changes after the rebuild continue from what it restored.
    await mark(reader.token, truths[1]!.id);
    expect(await allPages(reader.token, 5)).toEqual([['kept 1', 'kept 2', 'kept 0']]);
  });
});
