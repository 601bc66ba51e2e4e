import { randomBytes } from 'node:crypto';

export interface GraphQLErrorShape {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  data?: T | null;
  errors?: GraphQLErrorShape[];
}

export interface TestUser {
  token: string;
  id: string;
  username: string;
  email: string;
  password: string;
}

export interface GraphQLClient {
  /** POSTs a GraphQL request, with `Authorization: Bearer <token>` when a token is given. */
  gql<T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: { token?: string | undefined; headers?: Record<string, string> },
  ): Promise<GraphQLResponse<T>>;
  /** Signs up a fresh user (unique name) and returns its session. */
  signUp(overrides?: Partial<Pick<TestUser, 'username' | 'email' | 'password'>>): Promise<TestUser>;
}

/** A unique, valid username. */
export const uniqueUsername = (prefix = 'u') => `${prefix}_${randomBytes(5).toString('hex')}`;

export const signUpMutation = /* GraphQL */ `
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) {
      __typename
      ... on Session {
        token
        expiresAt
        user {
          id
          username
          displayName
        }
      }
    }
  }
`;

export function createGraphQLClient(url: string): GraphQLClient {
  const gql: GraphQLClient['gql'] = async (query, variables, options = {}) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...options.headers,
      },
      body: JSON.stringify({ query, variables }),
    });
    const text = await response.text();
    let body: Omit<GraphQLResponse, 'status'>;
    try {
      body = JSON.parse(text) as Omit<GraphQLResponse, 'status'>;
    } catch {
      throw new Error(`not JSON (HTTP ${response.status}): ${text.slice(0, 300)}`);
    }
    return { status: response.status, ...body } as GraphQLResponse<any>;
  };

  return {
    gql,
    async signUp(overrides = {}) {
      const username = overrides.username ?? uniqueUsername();
      const email = overrides.email ?? `${username.toLowerCase()}@example.com`;
      const password = overrides.password ?? 'correct horse battery staple';
      // Two operations of depth 2, so that tests of the depth limit can still sign users up.
      const result = await gql(
        'mutation($input: SignUpInput!) { signUp(input: $input) { __typename ... on Session { token } } }',
        { input: { username, email, password } },
      );
      const session = result.data?.['signUp'] as { __typename: string; token: string } | undefined;
      if (!session || session.__typename !== 'Session') {
        throw new Error(`sign-up failed: ${JSON.stringify(result)}`);
      }
      const me = await gql<{ me: { id: string } | null }>(
        '{ me { id } }',
        {},
        { token: session.token },
      );
      const id = me.data?.me?.id;
      if (!id) throw new Error(`the new session does not read its viewer: ${JSON.stringify(me)}`);
      return { token: session.token, id, username, email, password };
    },
  };
}

/** The `extensions.code` of each error, for compact assertions. */
export const errorCodes = (response: { errors?: GraphQLErrorShape[] | undefined }) =>
  (response.errors ?? []).map((error) => error.extensions?.code);
