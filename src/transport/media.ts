import { Readable } from 'node:stream';
import cors from 'cors';
import express, { type Request, type Response, type Router } from 'express';
import type { Config } from '../config.js';
import { bearerToken } from '../graphql/context.js';
import { ErrorCode } from '../graphql/errors.js';
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import { VerityError, isUnavailableError, retryAfterSeconds } from '../lib/errors.js';
import { UploadRefusal } from '../modules/media/index.js';
import type { Services } from '../modules/index.js';
import { requestIdHeader } from './request-id.js';

/** A stored file's name: `<media id>-<16 hex of its SHA-256>[-thumb].<ext>`. */
const fileName = /^([0-9a-f]{24})-([0-9a-f]{16})(-thumb)?\.(jpg|png|webp|gif|mp4|webm)$/;

const contentTypes: Readonly<Record<string, string>> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  mp4: 'video/mp4',
  webm: 'video/webm',
};

const statusOf: Partial<Record<string, number>> = {
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.CONFLICT]: 409,
};

/**
 * Media over plain HTTP: `PUT` (or `POST`) `/media/uploads?token=…` takes the raw bytes of one
 * upload (the URL `createMediaUpload` gave; no multipart, so Apollo's CSRF rule and graphql-
 * upload stay out of it, and WebSocket clients upload the same way), and `GET /media/<file>`
 * serves stored files: their names never change and carry a hash of their content, so they
 * are cached for a year. Errors have the shape of GraphQL errors, with the HTTP status that
 * fits.
 */
export function createMediaRouter(deps: {
  services: Services;
  config: Config;
  metrics: Metrics | undefined;
  logger: Logger;
}): Router {
  const { services, config, metrics, logger } = deps;
  const router = express.Router();

  const refuse = (res: Response, status: number, code: string, message: string) => {
    metrics?.error('http', code);
    if (!res.headersSent) {
      res.status(status).json({
        errors: [
          {
            message,
            extensions: { code, requestId: res.getHeader(requestIdHeader) as string },
          },
        ],
      });
    }
  };

  const fail = (res: Response, error: unknown) => {
    if (error instanceof UploadRefusal) {
      refuse(res, error.status, error.code, error.message);
    } else if (error instanceof VerityError) {
      refuse(res, statusOf[error.code] ?? 400, error.code, error.message);
    } else if (isUnavailableError(error)) {
      res.setHeader('Retry-After', String(retryAfterSeconds));
      refuse(res, 503, ErrorCode.UNAVAILABLE, 'The service is unavailable. Retry in a moment.');
    } else {
      logger.error({ err: error }, 'media request failed');
      refuse(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
    }
  };

  /**
   * The request's body, up to `maxBytes`; a longer one is refused as soon as it is seen to be,
   * and the connection closed (the rest of the body is not read).
   */
  const readBody = (req: Request, maxBytes: number) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          req.off('data', onData);
          req.pause();
          reject(tooLarge(maxBytes));
          return;
        }
        chunks.push(chunk);
      };
      req.on('data', onData);
      req.once('end', () => resolve(Buffer.concat(chunks, size)));
      req.once('error', reject);
      req.once('aborted', () =>
        reject(new UploadRefusal(400, ErrorCode.BAD_USER_INPUT, 'The upload was cut off.')),
      );
    });

  const tooLarge = (maxBytes: number) =>
    new UploadRefusal(413, ErrorCode.BAD_USER_INPUT, `The file is larger than ${maxBytes} bytes.`);

  const upload = async (req: Request, res: Response) => {
    try {
      const token = req.query['token'];
      if (typeof token !== 'string' || token === '') {
        throw new UploadRefusal(401, ErrorCode.UNAUTHENTICATED, 'The upload URL has no token.');
      }
      const grant = await services.media.grantOf(token);
      // The URL alone is enough; a session sent with it must be the uploader's.
      const session = bearerToken(req.headers.authorization);
      if (session) {
        const viewer = await services.users.viewerFromToken(session);
        if (viewer.id !== grant.ownerId) {
          throw new UploadRefusal(
            403,
            ErrorCode.FORBIDDEN,
            'This upload URL was given to another account.',
          );
        }
      }
      const declared = Number(req.headers['content-length'] ?? Number.NaN);
      if (declared > grant.maxBytes) throw tooLarge(grant.maxBytes);
      await services.media.claim(grant);
      const bytes = await readBody(req, grant.maxBytes);
      if (bytes.length === 0) {
        throw new UploadRefusal(400, ErrorCode.BAD_USER_INPUT, 'The upload is empty.');
      }
      const media = await services.media.receive(grant, bytes);
      res.status(201).json(media);
    } catch (error) {
      // A body left unread (refused early, or too large) is not waited for.
      if (!req.complete) res.setHeader('Connection', 'close');
      fail(res, error);
    }
  };

  const serve = async (req: Request, res: Response) => {
    const name = String(req.params['file']);
    const match = fileName.exec(name);
    if (!match) {
      refuse(res, 404, ErrorCode.NOT_FOUND, 'Not found.');
      return;
    }
    const headers = {
      'Content-Type': contentTypes[match[4]!]!,
      'Cache-Control': 'public, max-age=31536000, immutable',
      ETag: `"${match[1]}-${match[2]}${match[3] ?? ''}"`,
      'X-Content-Type-Options': 'nosniff',
      // Served from Verity's origin: nothing in a file may run as a page of it.
      'Content-Security-Policy': "default-src 'none'; sandbox",
      'Cross-Origin-Resource-Policy': 'cross-origin',
    };
    // A name never changes content: a client that has it has the current one.
    if (req.headers['if-none-match'] === headers.ETag) {
      res.set(headers).status(304).end();
      return;
    }
    const storage = services.media.storage;
    if (storage.localPath) {
      res.set(headers);
      res.sendFile(
        storage.localPath(name),
        { etag: false, lastModified: false, dotfiles: 'deny' },
        (error?: Error & { status?: number }) => {
          if (!error) return;
          res.removeHeader('Cache-Control');
          res.removeHeader('ETag');
          if (error.status === 404) refuse(res, 404, ErrorCode.NOT_FOUND, 'Not found.');
          else if (!res.headersSent) fail(res, error);
        },
      );
      return;
    }
    try {
      const answer = await storage.fetch!(name, req.headers.range);
      if (answer.status === 404) {
        await answer.body?.cancel();
        refuse(res, 404, ErrorCode.NOT_FOUND, 'Not found.');
        return;
      }
      if (answer.status !== 200 && answer.status !== 206) {
        await answer.body?.cancel();
        throw new Error(`media store answered ${answer.status}`);
      }
      res.set(headers).status(answer.status);
      for (const header of ['content-length', 'content-range', 'accept-ranges']) {
        const value = answer.headers.get(header);
        if (value !== null) res.setHeader(header, value);
      }
      if (req.method === 'HEAD' || !answer.body) {
        await answer.body?.cancel();
        res.end();
        return;
      }
      Readable.fromWeb(answer.body).pipe(res);
    } catch (error) {
      fail(res, error);
    }
  };

  router.use(
    '/media/uploads',
    cors({
      origin: config.http.corsOrigins,
      methods: ['PUT', 'POST', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type', requestIdHeader],
      exposedHeaders: [requestIdHeader],
      maxAge: 600,
    }),
  );
  router.put('/media/uploads', upload);
  router.post('/media/uploads', upload);
  router.get('/media/:file', serve);
  return router;
}
