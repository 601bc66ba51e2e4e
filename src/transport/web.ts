import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';

/** Where `npm run web:build` writes the demo web client: `web/dist`, never committed. */
export const webBuildDirectory = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const notBuilt = `<!doctype html><meta charset="utf-8"><title>Verity</title>
<h1>Verity</h1><p>The live demo is not built. Run <code>npm run web:build</code> (<code>npm start</code>
builds it), then reload. The API is at <a href="/graphql">/graphql</a>.</p>`;

/**
 * The live demo web client at `/` (web/, the client kit in a page): `index.html` and its
 * content-hashed `/assets/`, all from Verity itself. The page calls `/graphql` on the same
 * origin. Its files are looked up per request, so a rebuild is served without a restart; before
 * the first build `/` says how to make one.
 */
export function createWebRouter(options: { directory?: string } = {}): Router {
  const directory = options.directory ?? webBuildDirectory;
  const index = path.join(directory, 'index.html');
  const router = express.Router();
  // Asset names carry a hash of their content: a new build gets new names.
  router.use(
    '/assets',
    express.static(path.join(directory, 'assets'), { index: false, immutable: true, maxAge: '1y' }),
  );
  router.get('/', (_req, res) => {
    if (!existsSync(index)) {
      res.status(503).type('html').set('Cache-Control', 'no-store').send(notBuilt);
      return;
    }
    res.set('Cache-Control', 'no-cache').sendFile(index);
  });
  return router;
}
