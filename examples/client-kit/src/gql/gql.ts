/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query HomeFeedCursor {\n    homeFeed {\n      edges {\n        cursor\n      }\n    }\n  }\n": typeof types.HomeFeedCursorDocument,
    "\n  query PublicFeedCursor {\n    publicFeed {\n      edges {\n        cursor\n      }\n    }\n  }\n": typeof types.PublicFeedCursorDocument,
    "\n  query HashtagFeedCursor($tag: String!) {\n    hashtagFeed(tag: $tag) {\n      edges {\n        cursor\n      }\n    }\n  }\n": typeof types.HashtagFeedCursorDocument,
    "\n  fragment TruthFields on Truth {\n    id\n    kind\n    text\n    hashtags\n    createdAt\n    deletedAt\n    editedAt\n    author {\n      id\n      username\n      displayName\n    }\n    counts {\n      id\n      truthId\n      replies\n      retruths\n      quotes\n      reactions\n      byKind {\n        kind\n        count\n      }\n    }\n    viewerReaction\n    viewerHasRetruthed\n  }\n": typeof types.TruthFieldsFragmentDoc,
    "\n  fragment ProfileFields on User {\n    id\n    username\n    displayName\n    bio\n    followerCount\n    followingCount\n    truthCount\n    viewerIsFollowing\n  }\n": typeof types.ProfileFieldsFragmentDoc,
    "\n  query Me {\n    me {\n      ...ProfileFields\n      email\n    }\n  }\n": typeof types.MeDocument,
    "\n  query User($username: String!) {\n    user(username: $username) {\n      ...ProfileFields\n    }\n  }\n": typeof types.UserDocument,
    "\n  query HomeFeed($first: Int, $after: String) {\n    homeFeed(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": typeof types.HomeFeedDocument,
    "\n  query PublicFeed($first: Int, $after: String) {\n    publicFeed(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": typeof types.PublicFeedDocument,
    "\n  query HashtagFeed($tag: String!, $first: Int, $after: String) {\n    hashtagFeed(tag: $tag, first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": typeof types.HashtagFeedDocument,
    "\n  query UserTruths($username: String!, $first: Int, $after: String, $includeReplies: Boolean) {\n    user(username: $username) {\n      id\n      truths(first: $first, after: $after, includeReplies: $includeReplies) {\n        edges {\n          cursor\n          node {\n            ...TruthFields\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": typeof types.UserTruthsDocument,
    "\n  query Notifications($first: Int, $after: String, $unreadOnly: Boolean) {\n    notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {\n      unreadCount\n      edges {\n        cursor\n        node {\n          id\n          kind\n          read\n          createdAt\n          actor {\n            id\n            username\n            displayName\n          }\n          truth {\n            id\n            text\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": typeof types.NotificationsDocument,
    "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      __typename\n      ... on Session {\n        token\n        expiresAt\n        user {\n          ...ProfileFields\n        }\n      }\n      ... on WaitlistTicket {\n        id\n        ticket\n        position\n        admitted\n        username\n        ticketToken\n      }\n    }\n  }\n": typeof types.SignUpDocument,
    "\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      token\n      expiresAt\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n": typeof types.LogInDocument,
    "\n  mutation LogOut {\n    logOut\n  }\n": typeof types.LogOutDocument,
    "\n  mutation JoinWaitlist($input: JoinWaitlistInput!) {\n    joinWaitlist(input: $input) {\n      id\n      ticket\n      position\n      admitted\n      username\n      ticketToken\n    }\n  }\n": typeof types.JoinWaitlistDocument,
    "\n  mutation CompleteSignUp($input: CompleteSignUpInput!) {\n    completeSignUp(input: $input) {\n      token\n      expiresAt\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n": typeof types.CompleteSignUpDocument,
    "\n  mutation PostTruth($input: PostTruthInput!) {\n    postTruth(input: $input) {\n      truth {\n        ...TruthFields\n      }\n    }\n  }\n": typeof types.PostTruthDocument,
    "\n  mutation React($input: ReactInput!) {\n    react(input: $input) {\n      truth {\n        id\n        viewerReaction\n        counts {\n          id\n          truthId\n          reactions\n          byKind {\n            kind\n            count\n          }\n        }\n      }\n    }\n  }\n": typeof types.ReactDocument,
    "\n  mutation RemoveReaction($input: RemoveReactionInput!) {\n    removeReaction(input: $input) {\n      truth {\n        id\n        viewerReaction\n        counts {\n          id\n          truthId\n          reactions\n          byKind {\n            kind\n            count\n          }\n        }\n      }\n    }\n  }\n": typeof types.RemoveReactionDocument,
    "\n  mutation Follow($input: UserActionInput!) {\n    follow(input: $input) {\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n": typeof types.FollowDocument,
    "\n  mutation Unfollow($input: UserActionInput!) {\n    unfollow(input: $input) {\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n": typeof types.UnfollowDocument,
    "\n  subscription HomeFeedUpdated($after: String) {\n    homeFeedUpdated(after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n": typeof types.HomeFeedUpdatedDocument,
    "\n  subscription PublicFeedUpdated($after: String) {\n    publicFeedUpdated(after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n": typeof types.PublicFeedUpdatedDocument,
    "\n  subscription HashtagFeedUpdated($tag: String!, $after: String) {\n    hashtagFeedUpdated(tag: $tag, after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n": typeof types.HashtagFeedUpdatedDocument,
    "\n  subscription TruthCountsChanged($truthId: ID!) {\n    truthCountsChanged(truthId: $truthId) {\n      id\n      truthId\n      replies\n      retruths\n      quotes\n      reactions\n      byKind {\n        kind\n        count\n      }\n    }\n  }\n": typeof types.TruthCountsChangedDocument,
    "\n  subscription NotificationReceived {\n    notificationReceived {\n      id\n      kind\n      read\n      createdAt\n      actor {\n        id\n        username\n        displayName\n      }\n      truth {\n        id\n        text\n      }\n    }\n  }\n": typeof types.NotificationReceivedDocument,
    "\n  subscription WaitlistPosition($ticketToken: String!) {\n    waitlistPosition(ticketToken: $ticketToken) {\n      id\n      ticket\n      position\n      admitted\n      username\n    }\n  }\n": typeof types.WaitlistPositionDocument,
};
const documents: Documents = {
    "\n  query HomeFeedCursor {\n    homeFeed {\n      edges {\n        cursor\n      }\n    }\n  }\n": types.HomeFeedCursorDocument,
    "\n  query PublicFeedCursor {\n    publicFeed {\n      edges {\n        cursor\n      }\n    }\n  }\n": types.PublicFeedCursorDocument,
    "\n  query HashtagFeedCursor($tag: String!) {\n    hashtagFeed(tag: $tag) {\n      edges {\n        cursor\n      }\n    }\n  }\n": types.HashtagFeedCursorDocument,
    "\n  fragment TruthFields on Truth {\n    id\n    kind\n    text\n    hashtags\n    createdAt\n    deletedAt\n    editedAt\n    author {\n      id\n      username\n      displayName\n    }\n    counts {\n      id\n      truthId\n      replies\n      retruths\n      quotes\n      reactions\n      byKind {\n        kind\n        count\n      }\n    }\n    viewerReaction\n    viewerHasRetruthed\n  }\n": types.TruthFieldsFragmentDoc,
    "\n  fragment ProfileFields on User {\n    id\n    username\n    displayName\n    bio\n    followerCount\n    followingCount\n    truthCount\n    viewerIsFollowing\n  }\n": types.ProfileFieldsFragmentDoc,
    "\n  query Me {\n    me {\n      ...ProfileFields\n      email\n    }\n  }\n": types.MeDocument,
    "\n  query User($username: String!) {\n    user(username: $username) {\n      ...ProfileFields\n    }\n  }\n": types.UserDocument,
    "\n  query HomeFeed($first: Int, $after: String) {\n    homeFeed(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": types.HomeFeedDocument,
    "\n  query PublicFeed($first: Int, $after: String) {\n    publicFeed(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": types.PublicFeedDocument,
    "\n  query HashtagFeed($tag: String!, $first: Int, $after: String) {\n    hashtagFeed(tag: $tag, first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": types.HashtagFeedDocument,
    "\n  query UserTruths($username: String!, $first: Int, $after: String, $includeReplies: Boolean) {\n    user(username: $username) {\n      id\n      truths(first: $first, after: $after, includeReplies: $includeReplies) {\n        edges {\n          cursor\n          node {\n            ...TruthFields\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": types.UserTruthsDocument,
    "\n  query Notifications($first: Int, $after: String, $unreadOnly: Boolean) {\n    notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {\n      unreadCount\n      edges {\n        cursor\n        node {\n          id\n          kind\n          read\n          createdAt\n          actor {\n            id\n            username\n            displayName\n          }\n          truth {\n            id\n            text\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": types.NotificationsDocument,
    "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      __typename\n      ... on Session {\n        token\n        expiresAt\n        user {\n          ...ProfileFields\n        }\n      }\n      ... on WaitlistTicket {\n        id\n        ticket\n        position\n        admitted\n        username\n        ticketToken\n      }\n    }\n  }\n": types.SignUpDocument,
    "\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      token\n      expiresAt\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n": types.LogInDocument,
    "\n  mutation LogOut {\n    logOut\n  }\n": types.LogOutDocument,
    "\n  mutation JoinWaitlist($input: JoinWaitlistInput!) {\n    joinWaitlist(input: $input) {\n      id\n      ticket\n      position\n      admitted\n      username\n      ticketToken\n    }\n  }\n": types.JoinWaitlistDocument,
    "\n  mutation CompleteSignUp($input: CompleteSignUpInput!) {\n    completeSignUp(input: $input) {\n      token\n      expiresAt\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n": types.CompleteSignUpDocument,
    "\n  mutation PostTruth($input: PostTruthInput!) {\n    postTruth(input: $input) {\n      truth {\n        ...TruthFields\n      }\n    }\n  }\n": types.PostTruthDocument,
    "\n  mutation React($input: ReactInput!) {\n    react(input: $input) {\n      truth {\n        id\n        viewerReaction\n        counts {\n          id\n          truthId\n          reactions\n          byKind {\n            kind\n            count\n          }\n        }\n      }\n    }\n  }\n": types.ReactDocument,
    "\n  mutation RemoveReaction($input: RemoveReactionInput!) {\n    removeReaction(input: $input) {\n      truth {\n        id\n        viewerReaction\n        counts {\n          id\n          truthId\n          reactions\n          byKind {\n            kind\n            count\n          }\n        }\n      }\n    }\n  }\n": types.RemoveReactionDocument,
    "\n  mutation Follow($input: UserActionInput!) {\n    follow(input: $input) {\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n": types.FollowDocument,
    "\n  mutation Unfollow($input: UserActionInput!) {\n    unfollow(input: $input) {\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n": types.UnfollowDocument,
    "\n  subscription HomeFeedUpdated($after: String) {\n    homeFeedUpdated(after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n": types.HomeFeedUpdatedDocument,
    "\n  subscription PublicFeedUpdated($after: String) {\n    publicFeedUpdated(after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n": types.PublicFeedUpdatedDocument,
    "\n  subscription HashtagFeedUpdated($tag: String!, $after: String) {\n    hashtagFeedUpdated(tag: $tag, after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n": types.HashtagFeedUpdatedDocument,
    "\n  subscription TruthCountsChanged($truthId: ID!) {\n    truthCountsChanged(truthId: $truthId) {\n      id\n      truthId\n      replies\n      retruths\n      quotes\n      reactions\n      byKind {\n        kind\n        count\n      }\n    }\n  }\n": types.TruthCountsChangedDocument,
    "\n  subscription NotificationReceived {\n    notificationReceived {\n      id\n      kind\n      read\n      createdAt\n      actor {\n        id\n        username\n        displayName\n      }\n      truth {\n        id\n        text\n      }\n    }\n  }\n": types.NotificationReceivedDocument,
    "\n  subscription WaitlistPosition($ticketToken: String!) {\n    waitlistPosition(ticketToken: $ticketToken) {\n      id\n      ticket\n      position\n      admitted\n      username\n    }\n  }\n": types.WaitlistPositionDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query HomeFeedCursor {\n    homeFeed {\n      edges {\n        cursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query HomeFeedCursor {\n    homeFeed {\n      edges {\n        cursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query PublicFeedCursor {\n    publicFeed {\n      edges {\n        cursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query PublicFeedCursor {\n    publicFeed {\n      edges {\n        cursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query HashtagFeedCursor($tag: String!) {\n    hashtagFeed(tag: $tag) {\n      edges {\n        cursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query HashtagFeedCursor($tag: String!) {\n    hashtagFeed(tag: $tag) {\n      edges {\n        cursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment TruthFields on Truth {\n    id\n    kind\n    text\n    hashtags\n    createdAt\n    deletedAt\n    editedAt\n    author {\n      id\n      username\n      displayName\n    }\n    counts {\n      id\n      truthId\n      replies\n      retruths\n      quotes\n      reactions\n      byKind {\n        kind\n        count\n      }\n    }\n    viewerReaction\n    viewerHasRetruthed\n  }\n"): (typeof documents)["\n  fragment TruthFields on Truth {\n    id\n    kind\n    text\n    hashtags\n    createdAt\n    deletedAt\n    editedAt\n    author {\n      id\n      username\n      displayName\n    }\n    counts {\n      id\n      truthId\n      replies\n      retruths\n      quotes\n      reactions\n      byKind {\n        kind\n        count\n      }\n    }\n    viewerReaction\n    viewerHasRetruthed\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ProfileFields on User {\n    id\n    username\n    displayName\n    bio\n    followerCount\n    followingCount\n    truthCount\n    viewerIsFollowing\n  }\n"): (typeof documents)["\n  fragment ProfileFields on User {\n    id\n    username\n    displayName\n    bio\n    followerCount\n    followingCount\n    truthCount\n    viewerIsFollowing\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Me {\n    me {\n      ...ProfileFields\n      email\n    }\n  }\n"): (typeof documents)["\n  query Me {\n    me {\n      ...ProfileFields\n      email\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query User($username: String!) {\n    user(username: $username) {\n      ...ProfileFields\n    }\n  }\n"): (typeof documents)["\n  query User($username: String!) {\n    user(username: $username) {\n      ...ProfileFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query HomeFeed($first: Int, $after: String) {\n    homeFeed(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query HomeFeed($first: Int, $after: String) {\n    homeFeed(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query PublicFeed($first: Int, $after: String) {\n    publicFeed(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query PublicFeed($first: Int, $after: String) {\n    publicFeed(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query HashtagFeed($tag: String!, $first: Int, $after: String) {\n    hashtagFeed(tag: $tag, first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query HashtagFeed($tag: String!, $first: Int, $after: String) {\n    hashtagFeed(tag: $tag, first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...TruthFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query UserTruths($username: String!, $first: Int, $after: String, $includeReplies: Boolean) {\n    user(username: $username) {\n      id\n      truths(first: $first, after: $after, includeReplies: $includeReplies) {\n        edges {\n          cursor\n          node {\n            ...TruthFields\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query UserTruths($username: String!, $first: Int, $after: String, $includeReplies: Boolean) {\n    user(username: $username) {\n      id\n      truths(first: $first, after: $after, includeReplies: $includeReplies) {\n        edges {\n          cursor\n          node {\n            ...TruthFields\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Notifications($first: Int, $after: String, $unreadOnly: Boolean) {\n    notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {\n      unreadCount\n      edges {\n        cursor\n        node {\n          id\n          kind\n          read\n          createdAt\n          actor {\n            id\n            username\n            displayName\n          }\n          truth {\n            id\n            text\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query Notifications($first: Int, $after: String, $unreadOnly: Boolean) {\n    notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {\n      unreadCount\n      edges {\n        cursor\n        node {\n          id\n          kind\n          read\n          createdAt\n          actor {\n            id\n            username\n            displayName\n          }\n          truth {\n            id\n            text\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      __typename\n      ... on Session {\n        token\n        expiresAt\n        user {\n          ...ProfileFields\n        }\n      }\n      ... on WaitlistTicket {\n        id\n        ticket\n        position\n        admitted\n        username\n        ticketToken\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      __typename\n      ... on Session {\n        token\n        expiresAt\n        user {\n          ...ProfileFields\n        }\n      }\n      ... on WaitlistTicket {\n        id\n        ticket\n        position\n        admitted\n        username\n        ticketToken\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      token\n      expiresAt\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      token\n      expiresAt\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation LogOut {\n    logOut\n  }\n"): (typeof documents)["\n  mutation LogOut {\n    logOut\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation JoinWaitlist($input: JoinWaitlistInput!) {\n    joinWaitlist(input: $input) {\n      id\n      ticket\n      position\n      admitted\n      username\n      ticketToken\n    }\n  }\n"): (typeof documents)["\n  mutation JoinWaitlist($input: JoinWaitlistInput!) {\n    joinWaitlist(input: $input) {\n      id\n      ticket\n      position\n      admitted\n      username\n      ticketToken\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CompleteSignUp($input: CompleteSignUpInput!) {\n    completeSignUp(input: $input) {\n      token\n      expiresAt\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation CompleteSignUp($input: CompleteSignUpInput!) {\n    completeSignUp(input: $input) {\n      token\n      expiresAt\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation PostTruth($input: PostTruthInput!) {\n    postTruth(input: $input) {\n      truth {\n        ...TruthFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation PostTruth($input: PostTruthInput!) {\n    postTruth(input: $input) {\n      truth {\n        ...TruthFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation React($input: ReactInput!) {\n    react(input: $input) {\n      truth {\n        id\n        viewerReaction\n        counts {\n          id\n          truthId\n          reactions\n          byKind {\n            kind\n            count\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation React($input: ReactInput!) {\n    react(input: $input) {\n      truth {\n        id\n        viewerReaction\n        counts {\n          id\n          truthId\n          reactions\n          byKind {\n            kind\n            count\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RemoveReaction($input: RemoveReactionInput!) {\n    removeReaction(input: $input) {\n      truth {\n        id\n        viewerReaction\n        counts {\n          id\n          truthId\n          reactions\n          byKind {\n            kind\n            count\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation RemoveReaction($input: RemoveReactionInput!) {\n    removeReaction(input: $input) {\n      truth {\n        id\n        viewerReaction\n        counts {\n          id\n          truthId\n          reactions\n          byKind {\n            kind\n            count\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Follow($input: UserActionInput!) {\n    follow(input: $input) {\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation Follow($input: UserActionInput!) {\n    follow(input: $input) {\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Unfollow($input: UserActionInput!) {\n    unfollow(input: $input) {\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation Unfollow($input: UserActionInput!) {\n    unfollow(input: $input) {\n      user {\n        ...ProfileFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription HomeFeedUpdated($after: String) {\n    homeFeedUpdated(after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription HomeFeedUpdated($after: String) {\n    homeFeedUpdated(after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription PublicFeedUpdated($after: String) {\n    publicFeedUpdated(after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription PublicFeedUpdated($after: String) {\n    publicFeedUpdated(after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription HashtagFeedUpdated($tag: String!, $after: String) {\n    hashtagFeedUpdated(tag: $tag, after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription HashtagFeedUpdated($tag: String!, $after: String) {\n    hashtagFeedUpdated(tag: $tag, after: $after) {\n      __typename\n      ... on TruthPosted {\n        cursor\n        truth {\n          ...TruthFields\n        }\n      }\n      ... on TruthDeleted {\n        truthId\n      }\n      ... on TruthEdited {\n        truth {\n          ...TruthFields\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription TruthCountsChanged($truthId: ID!) {\n    truthCountsChanged(truthId: $truthId) {\n      id\n      truthId\n      replies\n      retruths\n      quotes\n      reactions\n      byKind {\n        kind\n        count\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription TruthCountsChanged($truthId: ID!) {\n    truthCountsChanged(truthId: $truthId) {\n      id\n      truthId\n      replies\n      retruths\n      quotes\n      reactions\n      byKind {\n        kind\n        count\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription NotificationReceived {\n    notificationReceived {\n      id\n      kind\n      read\n      createdAt\n      actor {\n        id\n        username\n        displayName\n      }\n      truth {\n        id\n        text\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription NotificationReceived {\n    notificationReceived {\n      id\n      kind\n      read\n      createdAt\n      actor {\n        id\n        username\n        displayName\n      }\n      truth {\n        id\n        text\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription WaitlistPosition($ticketToken: String!) {\n    waitlistPosition(ticketToken: $ticketToken) {\n      id\n      ticket\n      position\n      admitted\n      username\n    }\n  }\n"): (typeof documents)["\n  subscription WaitlistPosition($ticketToken: String!) {\n    waitlistPosition(ticketToken: $ticketToken) {\n      id\n      ticket\n      position\n      admitted\n      username\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;