import { Types } from 'mongoose';
import type { Logger } from '../../infra/logger.js';
import { createInserter, insertResolved } from '../../infra/mongo.js';
import {
  OutcomeUnknownError,
  VerityError,
  ErrorCode,
  badUserInput,
  conflict,
  forbidden,
  notFound,
} from '../../lib/errors.js';
import { objectId } from '../../lib/ids.js';
import type { TokenService } from '../auth/index.js';
import { acceptedContentTypes, detectType } from './media.detect.js';
import type {
  MediaAttachmentModel,
  MediaAttachmentRecord,
  MediaKind,
  MediaModel,
  MediaRecord,
} from './media.model.js';
import { processMedia } from './media.process.js';
import type { MediaStorage } from './media.storage.js';
import { sweptMarker, type MediaStore, type StoredMedia } from './media.store.js';

/** The most files one truth carries. */
export const maxMediaPerTruth = 4;
/** The longest alt text, in characters. */
export const maxAltTextLength = 1_000;
/** How often each instance sweeps unattached uploads. */
const sweepIntervalMs = 10 * 60_000;

/**
 * What a truth keeps of each attached file (in its own record, so reading a truth reads no
 * media record): enough to describe it and build its URLs.
 */
export interface AttachedMedia {
  id: string;
  kind: MediaKind;
  contentType: string;
  file: string;
  thumbnailFile: string | null;
  width: number | null;
  height: number | null;
  altText: string;
}

/** A file to attach, as `postTruth` names it (its id decoded already). */
export interface MediaToAttach {
  id: string;
  altText?: string | null | undefined;
}

/** What an upload URL allows, from its token. */
export interface UploadGrant {
  mediaId: string;
  ownerId: string;
  kind: MediaKind;
  maxBytes: number;
}

/** A stored upload, as the upload URL answers it. */
export interface MediaDescriptor {
  id: string;
  kind: MediaKind;
  contentType: string;
  byteSize: number;
  width: number | null;
  height: number | null;
  url: string;
  thumbnailUrl: string | null;
}

/** The HTTP status that goes with a refused upload (the error's code says the rest). */
export class UploadRefusal extends VerityError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

/**
 * Media: upload URLs, uploads, and attaching uploads to truths.
 *
 * An upload is checked from its bytes (signature, then a full decode of an image), re-encoded,
 * written to the media store, and only then recorded (an insert into `media`, keyed by the id
 * its URL named, and the read model). Whatever fails before the record leaves no file behind.
 * Attaching reads the read model only; the insert into `media_attachments`, keyed by the
 * media's id, decides which truth gets a file when two posts race for it.
 *
 * Uploads never attached are swept (`sweep`): the read model lists them by age, and each
 * older than `unattachedTtlMs` is claimed by an insert into `media_attachments` (so no post
 * can take it any more, and a post that took it first keeps it), then its files are deleted.
 */
export function createMediaService(deps: {
  Media: MediaModel;
  MediaAttachment: MediaAttachmentModel;
  store: MediaStore;
  storage: MediaStorage;
  tokens: TokenService;
  config: {
    maxImageBytes: number;
    maxVideoBytes: number;
    uploadTtlSeconds: number;
    /** How old an upload attached to nothing may get before it is swept. */
    unattachedTtlMs: number;
    /** The base of media URLs (no trailing slash). */
    baseUrl: string;
    /** Where upload URLs point (no trailing slash). */
    uploadBaseUrl: string;
  };
  logger: Logger;
}) {
  const { Media, MediaAttachment, store, storage, tokens, config, logger } = deps;
  // Grouped under load (infra/mongo.ts): a burst of posts with media is a few transactions.
  const attachmentInserts = createInserter<MediaAttachmentRecord>(MediaAttachment.collection);
  const maxBytesOf = (kind: MediaKind) =>
    kind === 'IMAGE' ? config.maxImageBytes : config.maxVideoBytes;
  const urlOf = (file: string) => `${config.baseUrl}/${file}`;

  const descriptorOf = (media: MediaRecord): MediaDescriptor => ({
    id: media._id.toHexString(),
    kind: media.kind,
    contentType: media.contentType,
    byteSize: media.byteSize,
    width: media.width,
    height: media.height,
    url: urlOf(media.file),
    thumbnailUrl: media.thumbnailFile ? urlOf(media.thumbnailFile) : null,
  });

  /** Removes files written for an upload that is not recorded; a failure is only logged. */
  const discard = async (files: readonly string[]) => {
    for (const file of files) {
      await storage.delete(file).catch((error: unknown) => {
        logger.warn({ err: error, file }, 'a media file of a failed upload was not deleted');
      });
    }
  };

  /**
   * What MongoDB says an upload is attached to (a truth's id, `swept`, or null): one document
   * by its key, read only when an insert was refused for it (a race, a retry).
   */
  const attachedTo = async (id: string): Promise<string | null> => {
    const found = await MediaAttachment.findById(objectId(id)).lean<MediaAttachmentRecord>().exec();
    if (!found) return null;
    return found.truthId?.toHexString() ?? sweptMarker;
  };

  /** The media of `ids`, each the viewer's own and attached to nothing (or to `truthId`). */
  const ownUnattached = async (
    viewerId: string,
    ids: readonly string[],
    truthId: string | null,
  ): Promise<StoredMedia[]> => {
    const found = await store.records.getMany(ids);
    return ids.map((id) => {
      const media = found.get(id);
      if (!media) throw notFound('There is no uploaded media with that id.');
      if (media.ownerId.toHexString() !== viewerId) {
        throw forbidden('You can only attach media you uploaded.');
      }
      if (media.truthId === sweptMarker) {
        throw notFound('That upload was removed: it was not attached in time. Upload it again.');
      }
      if (media.truthId !== null && media.truthId !== truthId) {
        throw conflict('That media is already attached to another truth.', 'media');
      }
      return media;
    });
  };

  let sweeper: NodeJS.Timeout | undefined;

  return {
    /**
     * Sweeps unattached uploads every ten minutes, 100 at a time until none is left, off any
     * request. Every instance may run it: claims decide who deletes what.
     */
    start(): void {
      if (sweeper) return;
      sweeper = setInterval(() => {
        void (async () => {
          while ((await this.sweep(100)) === 100);
        })().catch((error: unknown) => {
          logger.warn({ err: error }, 'sweeping unattached media failed; retried later');
        });
      }, sweepIntervalMs);
      sweeper.unref();
    },
    stop(): void {
      clearInterval(sweeper);
      sweeper = undefined;
    },
    urlOf,
    maxBytesOf,
    /** Where the files are (the HTTP layer serves them from there). */
    storage,

    /**
     * An upload URL for one file of `kind`, valid for MEDIA_UPLOAD_TTL_SECONDS. A declared
     * content type must be one Verity accepts for the kind, a declared size within its limit.
     */
    async createUpload(
      viewerId: string,
      input: { kind: MediaKind; contentType?: string | null; byteSize?: number | null },
    ) {
      const maxBytes = maxBytesOf(input.kind);
      if (
        input.contentType !== undefined &&
        input.contentType !== null &&
        !acceptedContentTypes[input.kind].includes(input.contentType.trim().toLowerCase())
      ) {
        throw badUserInput(
          `contentType must be one of ${acceptedContentTypes[input.kind].join(', ')} for ${input.kind}.`,
          'contentType',
        );
      }
      if (input.byteSize !== undefined && input.byteSize !== null) {
        if (input.byteSize < 1 || input.byteSize > maxBytes) {
          throw badUserInput(
            `byteSize must be from 1 to ${maxBytes} for ${input.kind}.`,
            'byteSize',
          );
        }
      }
      const mediaId = new Types.ObjectId().toHexString();
      const { token, expiresAt } = await tokens.sign(
        'media-upload',
        viewerId,
        config.uploadTtlSeconds,
        { mid: mediaId, mk: input.kind },
      );
      return {
        mediaId,
        uploadUrl: `${config.uploadBaseUrl}?token=${encodeURIComponent(token)}`,
        expiresAt,
        maxBytes,
      };
    },

    /** What an upload token allows; UNAUTHENTICATED for an expired or invalid one. */
    async grantOf(token: string): Promise<UploadGrant> {
      const { subject, claims } = await tokens.verify('media-upload', token);
      const mediaId = claims['mid'];
      const kind = claims['mk'];
      if (typeof mediaId !== 'string' || (kind !== 'IMAGE' && kind !== 'VIDEO')) {
        throw new UploadRefusal(401, ErrorCode.UNAUTHENTICATED, 'Invalid upload URL.');
      }
      return { mediaId, ownerId: subject, kind, maxBytes: maxBytesOf(kind) };
    },

    /**
     * Takes the upload URL for this attempt: a URL is good for one upload, whatever its
     * outcome (a failed one asks for a new URL). CONFLICT when it was used.
     */
    async claim(grant: UploadGrant): Promise<void> {
      if (!(await store.claimUpload(grant.mediaId, config.uploadTtlSeconds))) {
        throw new UploadRefusal(
          409,
          ErrorCode.CONFLICT,
          'This upload URL was already used. Ask for a new one.',
        );
      }
    },

    /**
     * Stores an uploaded file: its type from its bytes (it must be of the URL's kind), an image
     * re-encoded without metadata and with a thumbnail, then the files, then the record.
     */
    async receive(grant: UploadGrant, bytes: Buffer): Promise<MediaDescriptor> {
      const type = detectType(bytes);
      const expected =
        grant.kind === 'IMAGE' ? 'a JPEG, PNG, WebP or GIF image' : 'an MP4 or WebM video';
      if (!type || type.kind !== grant.kind) {
        throw new UploadRefusal(
          415,
          ErrorCode.BAD_USER_INPUT,
          `The file is not ${expected} (judged from its content, not its name or Content-Type).`,
        );
      }
      let processed;
      try {
        processed = await processMedia(bytes, type);
      } catch (error) {
        if (error instanceof VerityError) {
          throw new UploadRefusal(415, ErrorCode.BAD_USER_INPUT, error.message);
        }
        throw error;
      }
      const stem = `${grant.mediaId}-${processed.hash.slice(0, 16)}`;
      const record: MediaRecord = {
        _id: objectId(grant.mediaId),
        ownerId: objectId(grant.ownerId),
        kind: type.kind,
        contentType: processed.contentType,
        byteSize: processed.bytes.length,
        file: `${stem}.${processed.extension}`,
        thumbnailFile: processed.thumbnail ? `${stem}-thumb.webp` : null,
        width: processed.width,
        height: processed.height,
        createdAt: new Date(),
      };
      const written: string[] = [];
      try {
        await storage.put(record.file, processed.bytes, record.contentType);
        written.push(record.file);
        if (processed.thumbnail && record.thumbnailFile) {
          await storage.put(record.thumbnailFile, processed.thumbnail, 'image/webp');
          written.push(record.thumbnailFile);
        }
        const stored = await insertResolved(() => Media.collection.insertOne(record), {
          unknown: { mediaId: grant.mediaId },
        });
        if (stored.outcome === 'duplicate' && !stored.retried) {
          throw new UploadRefusal(
            409,
            ErrorCode.CONFLICT,
            'This upload URL was already used. Ask for a new one.',
          );
        }
      } catch (error) {
        // A write that may have landed keeps its files: a record without them would be worse
        // than files without a record (which the sweeper can find).
        if (!(error instanceof OutcomeUnknownError)) await discard(written);
        throw error;
      }
      await store.put({ ...record, truthId: null });
      return descriptorOf(record);
    },

    /**
     * Checks files to attach to a new truth, from the read model only: at most four, each
     * named once, the viewer's own, attached to nothing yet (or to `truthId`, the truth they
     * are for: a retried post); alt text trimmed and bounded.
     * What the truth will keep of them, in order.
     */
    async prepare(
      viewerId: string,
      items: readonly MediaToAttach[],
      truthId: string,
    ): Promise<AttachedMedia[]> {
      if (items.length === 0) return [];
      if (items.length > maxMediaPerTruth) {
        throw badUserInput(`A truth carries at most ${maxMediaPerTruth} media files.`, 'media');
      }
      const ids = items.map((item) => item.id);
      if (new Set(ids).size !== ids.length) {
        throw badUserInput('Each media file can be attached once.', 'media');
      }
      const altTexts = items.map((item) => (item.altText ?? '').trim());
      if (altTexts.some((text) => [...text].length > maxAltTextLength)) {
        throw badUserInput(`Alt text is at most ${maxAltTextLength} characters.`, 'media');
      }
      const found = await ownUnattached(viewerId, ids, truthId);
      return found.map((media, i) => ({
        id: media._id.toHexString(),
        kind: media.kind,
        contentType: media.contentType,
        file: media.file,
        thumbnailFile: media.thumbnailFile,
        width: media.width,
        height: media.height,
        altText: altTexts[i]!,
      }));
    },

    /**
     * Attaches prepared files to the truth `truthId` about to be stored: one insert per file
     * into `media_attachments`. A file another request attached first is a CONFLICT (this
     * call's own earlier attachments are undone); one already attached to this same truth
     * (a retried post with an idempotency key) is fine.
     */
    async attach(viewerId: string, ids: readonly string[], truthId: string): Promise<void> {
      // All at once: the inserter sends them as one insertMany.
      const outcomes = await Promise.allSettled(
        ids.map((id) =>
          insertResolved(
            () =>
              attachmentInserts.insert({
                _id: objectId(id),
                truthId: objectId(truthId),
                at: new Date(),
              }),
            { unknown: { mediaId: id } },
          ),
        ),
      );
      const attached = ids.filter((_id, i) => {
        const outcome = outcomes[i]!;
        return (
          outcome.status === 'fulfilled' &&
          (outcome.value.outcome === 'inserted' || outcome.value.retried)
        );
      });
      try {
        for (const [i, outcome] of outcomes.entries()) {
          if (outcome.status === 'rejected') throw outcome.reason;
          if (outcome.value.outcome === 'inserted' || outcome.value.retried) continue;
          // Rare: a race or a retry. Which truth won is in the read model, or a moment before
          // it is, only in MongoDB (one document by its key).
          const id = ids[i]!;
          const winner =
            (await store.records.getMany([id])).get(id)?.truthId ?? (await attachedTo(id));
          if (winner === sweptMarker) {
            throw notFound(
              'That upload was removed: it was not attached in time. Upload it again.',
            );
          }
          if (winner !== truthId) {
            throw conflict('That media is already attached to another truth.', 'media');
          }
        }
      } catch (error) {
        await this.release(attached, truthId);
        throw error;
      }
      const media = await ownUnattached(viewerId, ids, truthId);
      await Promise.all(media.map((item) => store.put({ ...item, truthId })));
    },

    /**
     * Removes up to `limit` uploads attached to nothing and older than MEDIA_UNATTACHED_TTL:
     * each is claimed first (an insert into `media_attachments` with no truth; one a post
     * attached meanwhile is left alone), then its files are deleted and its record marked
     * swept. Safe on every instance at once. How many were swept.
     */
    async sweep(limit = 100, now = new Date()): Promise<number> {
      const ids = await store.oldestUnattached(
        new Date(now.getTime() - config.unattachedTtlMs),
        limit,
      );
      let swept = 0;
      for (const id of ids) {
        const claim = await insertResolved(
          () => MediaAttachment.collection.insertOne({ _id: objectId(id), truthId: null, at: now }),
          { unknown: { mediaId: id } },
        );
        const media = (await store.records.getMany([id])).get(id);
        if (!media) continue;
        if (claim.outcome === 'duplicate' && !claim.retried) {
          // Attached (or swept) by someone else first. Said to the read model here too, in
          // case they died before they could: it leaves the list either way.
          const truthId = await attachedTo(id);
          if (truthId !== null) await store.put({ ...media, truthId });
          continue;
        }
        await discard([media.file, ...(media.thumbnailFile ? [media.thumbnailFile] : [])]);
        await store.put({ ...media, truthId: sweptMarker });
        swept++;
      }
      return swept;
    },

    /**
     * Undoes `attach` for a truth that was not stored after all, so its files can go with
     * another post. Best effort: a file left attached to no truth is only lost to its owner.
     */
    async release(ids: readonly string[], truthId: string): Promise<void> {
      if (ids.length === 0) return;
      try {
        await MediaAttachment.deleteMany({
          _id: { $in: ids.map(objectId) },
          truthId: objectId(truthId),
        }).exec();
        const found = await store.records.getMany(ids);
        for (const media of found.values()) {
          if (media.truthId === truthId) await store.put({ ...media, truthId: null });
        }
      } catch (error) {
        logger.warn({ err: error, truthId }, 'media attached to a truth not stored stay attached');
      }
    },
  };
}

export type MediaService = ReturnType<typeof createMediaService>;
