import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { errorCodes } from './helpers/graphql.js';
import { useVerity } from './helpers/server.js';
import { act, feedTexts, post } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';

const profile = `query($u: String!) { user(username: $u) {
  followerCount followingCount viewerIsFollowing followsViewer viewerHasBlocked viewerHasMuted
} }`;

describe('follows, blocks and mutes', () => {
  const verity = useVerity();
  const relationCount = () => verity.app.internals.models.RelationEvent.countDocuments().exec();

  it('follows and unfollows, idempotently, with counts and flags on both sides', async () => {
    const a = await verity.signUp();
    const b = await verity.signUp();
    await act(verity, a.token, 'follow', b.id);
    await act(verity, a.token, 'follow', b.id);

    const seenByA = await verity.gql(profile, { u: b.username }, { token: a.token });
    expect(seenByA.data!['user']).toEqual({
      followerCount: 1,
      followingCount: 0,
      viewerIsFollowing: true,
      followsViewer: false,
      viewerHasBlocked: false,
      viewerHasMuted: false,
    });
    const seenByB = await verity.gql(profile, { u: a.username }, { token: b.token });
    expect(seenByB.data!['user']).toMatchObject({
      followingCount: 1,
      followsViewer: true,
      viewerIsFollowing: false,
    });

    await act(verity, a.token, 'unfollow', b.id);
    await act(verity, a.token, 'unfollow', b.id);
    const after = await verity.gql(profile, { u: b.username }, { token: a.token });
    expect(after.data!['user']).toMatchObject({ followerCount: 0, viewerIsFollowing: false });
  });

  it('applies a change once on each of its two sides, and lets a late older change of the pair move neither', async () => {
    const a = await verity.signUp();
    const b = await verity.signUp();
    await act(verity, a.token, 'follow', b.id);
    const store = verity.app.internals.services.relationStore;
    const [from, to] = [userIdHex(a.id), userIdHex(b.id)];
    const change = (on: boolean, version: number) => ({
      _id: new Types.ObjectId(),
      fromId: new Types.ObjectId(from),
      toId: new Types.ObjectId(to),
      kind: 'follow' as const,
      on,
      version,
      at: new Date(),
    });
    const sides = async () => {
      const seenByA = await verity.gql(profile, { u: b.username }, { token: a.token });
      const seenByB = await verity.gql(profile, { u: a.username }, { token: b.token });
      return [seenByA.data!['user'], seenByB.data!['user']].map((user) => ({
        followerCount: user.followerCount,
        followingCount: user.followingCount,
        viewerIsFollowing: user.viewerIsFollowing,
        followsViewer: user.followsViewer,
      }));
    };
    const following = await sides();

    // Older than the follow (versions start above 0): neither side takes it.
    expect(await store.apply(change(false, 0))).toBe(false);
    expect(await sides()).toEqual(following);

    const intent = await store.intend(from, 'follow', to, false);
    expect(intent.status).toBe('change');
    const unfollow = change(false, intent.status === 'change' ? intent.version : -1);
    expect(await store.apply(unfollow)).toBe(true);
    expect(await store.apply(unfollow)).toBe(false);
    const unfollowed = await sides();
    expect(unfollowed).toEqual([
      { followerCount: 0, followingCount: 0, viewerIsFollowing: false, followsViewer: false },
      { followerCount: 0, followingCount: 0, viewerIsFollowing: false, followsViewer: false },
    ]);
    // The follow again, replayed after the newer unfollow: it stays undone on both sides.
    expect(await store.apply(change(true, unfollow.version - 1))).toBe(false);
    expect(await sides()).toEqual(unfollowed);
  });

  it('counts concurrent follows of one account exactly', async () => {
    const star = await verity.signUp();
    const fans = await Promise.all(Array.from({ length: 12 }, () => verity.signUp()));
    await Promise.all(fans.map((fan) => act(verity, fan.token, 'follow', star.id)));
    const result = await verity.gql(profile, { u: star.username });
    expect(result.data!['user'].followerCount).toBe(12);
  });

  it('lists followers and following as connections, newest first', async () => {
    const star = await verity.signUp();
    const fans = [];
    for (let i = 0; i < 5; i++) {
      const fan = await verity.signUp();
      await act(verity, fan.token, 'follow', star.id);
      fans.push(fan);
    }
    const query = `query($u: String!, $after: String) { user(username: $u) { followers(first: 2, after: $after) {
      edges { cursor since node { username } } pageInfo { hasNextPage endCursor } } } }`;
    const names: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: any = await verity.gql(query, { u: star.username, after });
      const connection = page.data!['user'].followers;
      names.push(...connection.edges.map((e: any) => e.node.username));
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor;
    }
    expect(names).toEqual(fans.map((f) => f.username).reverse());

    const following = await verity.gql(
      `query($u: String!) { user(username: $u) { following { edges { node { username } } } } }`,
      { u: fans[0]!.username },
    );
    expect(following.data!['user'].following.edges).toEqual([
      { node: { username: star.username } },
    ]);
  });

  it('ends both follows on a block and hides each from the other', async () => {
    const a = await verity.signUp();
    const b = await verity.signUp();
    await act(verity, a.token, 'follow', b.id);
    await act(verity, b.token, 'follow', a.id);
    await post(verity, b.token, 'b before the block');
    await post(verity, a.token, 'a before the block');
    expect(await feedTexts(verity, 'homeFeed', { token: a.token })).toContain('b before the block');

    await act(verity, a.token, 'block', b.id);
    const seenByA = await verity.gql(profile, { u: b.username }, { token: a.token });
    expect(seenByA.data!['user']).toMatchObject({
      followerCount: 0,
      followingCount: 0,
      viewerIsFollowing: false,
      followsViewer: false,
      viewerHasBlocked: true,
    });
    expect(await feedTexts(verity, 'homeFeed', { token: a.token })).not.toContain(
      'b before the block',
    );
    expect(await feedTexts(verity, 'publicFeed', { token: a.token })).not.toContain(
      'b before the block',
    );
    expect(await feedTexts(verity, 'publicFeed', { token: b.token })).not.toContain(
      'a before the block',
    );

    const refollow = await verity.gql(
      `mutation($id: ID!) { follow(input: { userId: $id }) { user { id } } }`,
      { id: a.id },
      { token: b.token },
    );
    expect(errorCodes(refollow)).toEqual(['FORBIDDEN']);

    await act(verity, a.token, 'unblock', b.id);
    expect(await feedTexts(verity, 'publicFeed', { token: a.token })).toContain(
      'b before the block',
    );
  });

  it('mutes: their truths leave my feeds but their profile still shows them', async () => {
    const a = await verity.signUp();
    const loud = await verity.signUp();
    await act(verity, a.token, 'follow', loud.id);
    await post(verity, loud.token, 'very loud opinion');
    await act(verity, a.token, 'mute', loud.id);
    expect(await feedTexts(verity, 'homeFeed', { token: a.token })).not.toContain(
      'very loud opinion',
    );
    expect(await feedTexts(verity, 'publicFeed', { token: a.token })).not.toContain(
      'very loud opinion',
    );
    const profileTruths = await verity.gql(
      `query($u: String!) { user(username: $u) { viewerHasMuted truths { edges { node { text } } } } }`,
      { u: loud.username },
      { token: a.token },
    );
    expect(profileTruths.data!['user']).toEqual({
      viewerHasMuted: true,
      truths: { edges: [{ node: { text: 'very loud opinion' } }] },
    });
    await act(verity, a.token, 'unmute', loud.id);
    expect(await feedTexts(verity, 'homeFeed', { token: a.token })).toContain('very loud opinion');
  });

  describe('rejects bad input with a typed error and changes nothing', () => {
    it.each(['follow', 'block', 'mute'])('%s yourself', async (action) => {
      const a = await verity.signUp();
      const before = await relationCount();
      const result = await verity.gql(
        `mutation($id: ID!) { ${action}(input: { userId: $id }) { user { id } } }`,
        { id: a.id },
        { token: a.token },
      );
      expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
      expect(await relationCount()).toBe(before);
    });

    it('follow an unknown user, or with an id that is not a user id', async () => {
      const a = await verity.signUp();
      const before = await relationCount();
      const unknown = await verity.gql(
        `mutation { follow(input: { userId: "VXNlcjowMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc" }) { user { id } } }`,
        {},
        { token: a.token },
      );
      expect(errorCodes(unknown)).toEqual(['NOT_FOUND']);
      const wrongType = await verity.gql(
        `mutation { follow(input: { userId: "VHJ1dGg6MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3" }) { user { id } } }`,
        {},
        { token: a.token },
      );
      expect(errorCodes(wrongType)).toEqual(['BAD_USER_INPUT']);
      expect(await relationCount()).toBe(before);
    });
  });
});
