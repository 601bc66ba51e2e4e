import { describe, expect, it } from 'vitest';
import { useVerity } from './helpers/server.js';
import { act, channelReady, feed, homeChannel, post } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';

const homeUpdates = /* GraphQL */ `
  subscription {
    homeFeedUpdated {
      ... on TruthPosted {
        truth {
          text
        }
      }
      ... on TruthDeleted {
        truthId
      }
    }
  }
`;

describe('whales: authors above the follower threshold', () => {
  const verity = useVerity({ env: { WHALE_FOLLOWER_THRESHOLD: '3' } });

  const timelineHas = async (userGlobalId: string, truthGlobalId: string) => {
    const { redis } = verity.app.internals;
    const score = await redis.command.zscore(
      `${redis.namespace}:m:tl:{${userIdHex(userGlobalId)}}`,
      userIdHex(truthGlobalId),
    );
    return score !== null;
  };

  it('are not fanned out, yet appear in followers’ home pages in order and paginate across the merge', async () => {
    const whale = await verity.signUp();
    const author = await verity.signUp();
    const fans = [await verity.signUp(), await verity.signUp(), await verity.signUp()];
    for (const fan of fans) await act(verity, fan.token, 'follow', whale.id);
    const [fan] = fans as [(typeof fans)[number]];
    await act(verity, fan.token, 'follow', author.id);
    // Timelines are kept for readers: both have read their home feed.
    for (const reader of [fan, whale]) await feed(verity, 'homeFeed', { token: reader.token });

    // The whale's first truth after reaching the threshold flags it (and still fans out).
    await post(verity, whale.token, 'w0');
    const texts = ['w1', 'a1', 'w2', 'a2', 'w3', 'a3', 'w4'];
    const posted: Record<string, string> = {};
    for (const text of texts) {
      posted[text] = (
        await post(verity, text.startsWith('w') ? whale.token : author.token, text)
      ).id;
    }
    expect(await timelineHas(fan.id, posted['w1']!)).toBe(false);
    expect(await timelineHas(fan.id, posted['a1']!)).toBe(true);
    expect(await timelineHas(whale.id, posted['w1']!)).toBe(true);

    const pages: string[][] = [];
    let after: string | null = null;
    for (;;) {
      const page: any = (await feed(verity, 'homeFeed', { token: fan.token, first: 3, after }))
        .data!['homeFeed'];
      pages.push(page.edges.map((edge: any) => edge.node.text));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(pages).toEqual([
      ['w4', 'a3', 'w3'],
      ['a2', 'w2', 'a1'],
      ['w1', 'w0'],
    ]);

    const onlyWhale = (await feed(verity, 'homeFeed', { token: fans[1]!.token, first: 10 })).data![
      'homeFeed'
    ];
    expect(onlyWhale.edges.map((edge: any) => edge.node.text)).toEqual([
      'w4',
      'w3',
      'w2',
      'w1',
      'w0',
    ]);
    expect(onlyWhale.pageInfo.hasNextPage).toBe(false);
  });

  it('reach live home feeds, including those that were open before the author became a whale', async () => {
    const whale = await verity.signUp();
    const fans = [await verity.signUp(), await verity.signUp(), await verity.signUp()];
    for (const fan of fans) await act(verity, fan.token, 'follow', whale.id);
    const [fan] = fans as [(typeof fans)[number]];
    const live = verity.subscribe(verity.connect(fan.token), homeUpdates);
    await channelReady(verity, homeChannel(fan.id));

    await post(verity, whale.token, 'the post that makes a whale');
    expect((await live.next()).data!['homeFeedUpdated'].truth.text).toBe(
      'the post that makes a whale',
    );
    await channelReady(verity, `authorPosted:${userIdHex(whale.id)}`);
    const next = await post(verity, whale.token, 'a whale speaks');
    expect((await live.next()).data!['homeFeedUpdated'].truth.text).toBe('a whale speaks');
    expect(await timelineHas(fan.id, next.id)).toBe(false);

    await verity.gql(
      `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
      { id: next.id },
      { token: whale.token },
    );
    expect((await live.next()).data!['homeFeedUpdated']).toEqual({ truthId: next.id });

    // A new follower's home feed gets the whale's truths without any fan-out.
    const late = await verity.signUp();
    await act(verity, late.token, 'follow', whale.id);
    const home = (await feed(verity, 'homeFeed', { token: late.token })).data!['homeFeed'];
    expect(home.edges.map((edge: any) => edge.node.text)).toEqual(['the post that makes a whale']);
  });
});
