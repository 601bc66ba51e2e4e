import express, { type Request, type Response, type Router } from 'express';
import { getDistDirectory, renderAltair } from 'altair-static';

const exampleQuery = `# Welcome to Verity. Sign up or log in: the session token is saved to the
# environment ("token") and sent with every request and subscription.

mutation SignUp {
  signUp(input: { username: "ada", email: "ada@example.com", password: "analytical engine" }) {
    ... on Session { token user { username } }
  }
}

mutation LogIn {
  logIn(input: { login: "ada", password: "analytical engine" }) { token }
}

query Me {
  me { id username displayName bio }
}

subscription WatchAda {
  userUpdated(username: "ada") { username displayName bio }
}
`;

// Runs in Altair's sandboxed worker after each request: keeps the newest session token.
const saveSessionToken = `
const body = typeof altair.response?.body === 'string' ? JSON.parse(altair.response.body) : altair.response?.body;
const data = body?.data ?? {};
const token = data.signUp?.token ?? data.logIn?.token ?? data.completeSignUp?.token;
if (token) {
  altair.helpers.setEnvironment('token', token, true);
  altair.log('Session token saved to the environment.');
}
`;

/**
 * The GraphQL IDE (Altair) at `GET /graphql` for browsers, with every asset served by Verity
 * itself: Apollo's landing pages load from a CDN and show a blank page offline. Altair runs
 * queries and mutations over HTTP and subscriptions over graphql-ws on the same path, sending
 * the `token` environment variable as a Bearer token on both.
 */
export function createIdeRouter(options: { path: string }): Router {
  const router = express.Router();
  const assetsPath = `${options.path}/ide/`;
  router.use(assetsPath, express.static(getDistDirectory(), { index: false, maxAge: '1h' }));

  router.get(options.path, (req: Request, res: Response, next) => {
    // Only a browser navigation gets the IDE; GET queries and API clients go on to Apollo.
    const wantsHtml = req.accepts(['application/json', 'text/html']) === 'text/html';
    if (!wantsHtml || Object.keys(req.query).length > 0) {
      next();
      return;
    }
    const scheme = req.secure ? 'wss' : 'ws';
    const html = renderAltair({
      baseURL: assetsPath,
      endpointURL: options.path,
      subscriptionsEndpoint: `${scheme}://${req.get('host') ?? 'localhost'}${options.path}`,
      initialSubscriptionRequestHandlerId: 'graphql-ws',
      initialQuery: exampleQuery,
      initialHeaders: { Authorization: 'Bearer {{token}}' },
      initialSubscriptionsPayload: { authorization: 'Bearer {{token}}' },
      initialEnvironments: {
        base: { title: 'Verity', variables: {} },
        subEnvironments: [{ id: 'session', title: 'Session', variables: { token: '' } }],
        activeSubEnvironment: 'session',
      },
      initialPostRequestScript: saveSessionToken,
      initialSettings: {
        'alert.disableUpdateNotification': true,
        'banners.disable': true,
        disablePushNotification: true,
        'plugin.list': [],
      },
      disableAccount: true,
      initialName: 'Verity',
    });
    res.type('html').set('Cache-Control', 'no-store').send(html);
  });
  return router;
}
