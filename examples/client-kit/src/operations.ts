import { graphql } from './gql/index.js';

/*
 * The operations a Verity client needs most, typed by `npm run codegen` (the client preset
 * reads every `graphql(...)` call below and writes `./gql/`). Fragments are plain selections
 * here (fragment masking is off): each operation's result type already holds its fields.
 *
 * Every object with an identity is selected with its `id`, the cache's key: `TruthCounts` has
 * one per truth, so a `truthCountsChanged` event updates every cached truth that shows it.
 */

export const TruthFieldsFragmentDoc = graphql(`
  fragment TruthFields on Truth {
    id
    kind
    text
    hashtags
    createdAt
    deletedAt
    editedAt
    author {
      id
      username
      displayName
    }
    counts {
      id
      truthId
      replies
      retruths
      quotes
      reactions
      byKind {
        kind
        count
      }
    }
    viewerReaction
    viewerHasRetruthed
  }
`);

export const ProfileFieldsFragmentDoc = graphql(`
  fragment ProfileFields on User {
    id
    username
    displayName
    bio
    followerCount
    followingCount
    truthCount
    viewerIsFollowing
  }
`);

export const MeDocument = graphql(`
  query Me {
    me {
      ...ProfileFields
      email
    }
  }
`);

export const UserDocument = graphql(`
  query User($username: String!) {
    user(username: $username) {
      ...ProfileFields
    }
  }
`);

export const HomeFeedDocument = graphql(`
  query HomeFeed($first: Int, $after: String) {
    homeFeed(first: $first, after: $after) {
      edges {
        cursor
        node {
          ...TruthFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const PublicFeedDocument = graphql(`
  query PublicFeed($first: Int, $after: String) {
    publicFeed(first: $first, after: $after) {
      edges {
        cursor
        node {
          ...TruthFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const HashtagFeedDocument = graphql(`
  query HashtagFeed($tag: String!, $first: Int, $after: String) {
    hashtagFeed(tag: $tag, first: $first, after: $after) {
      edges {
        cursor
        node {
          ...TruthFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const UserTruthsDocument = graphql(`
  query UserTruths($username: String!, $first: Int, $after: String, $includeReplies: Boolean) {
    user(username: $username) {
      id
      truths(first: $first, after: $after, includeReplies: $includeReplies) {
        edges {
          cursor
          node {
            ...TruthFields
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);

export const NotificationsDocument = graphql(`
  query Notifications($first: Int, $after: String, $unreadOnly: Boolean) {
    notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
      unreadCount
      edges {
        cursor
        node {
          id
          kind
          read
          createdAt
          actor {
            id
            username
            displayName
          }
          truth {
            id
            text
          }
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const SignUpDocument = graphql(`
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) {
      __typename
      ... on Session {
        token
        expiresAt
        user {
          ...ProfileFields
        }
      }
      ... on WaitlistTicket {
        id
        ticket
        position
        admitted
        username
        ticketToken
      }
    }
  }
`);

export const LogInDocument = graphql(`
  mutation LogIn($input: LogInInput!) {
    logIn(input: $input) {
      token
      expiresAt
      user {
        ...ProfileFields
      }
    }
  }
`);

export const LogOutDocument = graphql(`
  mutation LogOut {
    logOut
  }
`);

export const JoinWaitlistDocument = graphql(`
  mutation JoinWaitlist($input: JoinWaitlistInput!) {
    joinWaitlist(input: $input) {
      id
      ticket
      position
      admitted
      username
      ticketToken
    }
  }
`);

export const CompleteSignUpDocument = graphql(`
  mutation CompleteSignUp($input: CompleteSignUpInput!) {
    completeSignUp(input: $input) {
      token
      expiresAt
      user {
        ...ProfileFields
      }
    }
  }
`);

export const PostTruthDocument = graphql(`
  mutation PostTruth($input: PostTruthInput!) {
    postTruth(input: $input) {
      truth {
        ...TruthFields
      }
    }
  }
`);

export const ReactDocument = graphql(`
  mutation React($input: ReactInput!) {
    react(input: $input) {
      truth {
        id
        viewerReaction
        counts {
          id
          truthId
          reactions
          byKind {
            kind
            count
          }
        }
      }
    }
  }
`);

export const RemoveReactionDocument = graphql(`
  mutation RemoveReaction($input: RemoveReactionInput!) {
    removeReaction(input: $input) {
      truth {
        id
        viewerReaction
        counts {
          id
          truthId
          reactions
          byKind {
            kind
            count
          }
        }
      }
    }
  }
`);

export const FollowDocument = graphql(`
  mutation Follow($input: UserActionInput!) {
    follow(input: $input) {
      user {
        ...ProfileFields
      }
    }
  }
`);

export const UnfollowDocument = graphql(`
  mutation Unfollow($input: UserActionInput!) {
    unfollow(input: $input) {
      user {
        ...ProfileFields
      }
    }
  }
`);

/** A feed subscription's selection: new truths with their cursor, and deletions. */
export const HomeFeedUpdatedDocument = graphql(`
  subscription HomeFeedUpdated($after: String) {
    homeFeedUpdated(after: $after) {
      __typename
      ... on TruthPosted {
        cursor
        truth {
          ...TruthFields
        }
      }
      ... on TruthDeleted {
        truthId
      }
      ... on TruthEdited {
        truth {
          ...TruthFields
        }
      }
    }
  }
`);

export const PublicFeedUpdatedDocument = graphql(`
  subscription PublicFeedUpdated($after: String) {
    publicFeedUpdated(after: $after) {
      __typename
      ... on TruthPosted {
        cursor
        truth {
          ...TruthFields
        }
      }
      ... on TruthDeleted {
        truthId
      }
      ... on TruthEdited {
        truth {
          ...TruthFields
        }
      }
    }
  }
`);

export const HashtagFeedUpdatedDocument = graphql(`
  subscription HashtagFeedUpdated($tag: String!, $after: String) {
    hashtagFeedUpdated(tag: $tag, after: $after) {
      __typename
      ... on TruthPosted {
        cursor
        truth {
          ...TruthFields
        }
      }
      ... on TruthDeleted {
        truthId
      }
      ... on TruthEdited {
        truth {
          ...TruthFields
        }
      }
    }
  }
`);

export const TruthCountsChangedDocument = graphql(`
  subscription TruthCountsChanged($truthId: ID!) {
    truthCountsChanged(truthId: $truthId) {
      id
      truthId
      replies
      retruths
      quotes
      reactions
      byKind {
        kind
        count
      }
    }
  }
`);

export const NotificationReceivedDocument = graphql(`
  subscription NotificationReceived {
    notificationReceived {
      id
      kind
      read
      createdAt
      actor {
        id
        username
        displayName
      }
      truth {
        id
        text
      }
    }
  }
`);

export const WaitlistPositionDocument = graphql(`
  subscription WaitlistPosition($ticketToken: String!) {
    waitlistPosition(ticketToken: $ticketToken) {
      id
      ticket
      position
      admitted
      username
    }
  }
`);
