import type { Logger } from '../../infra/logger.js';
import { createModelRecords } from '../../infra/model-store.js';
import { scanCollection } from '../../infra/mongo.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { RedisClients } from '../../infra/redis.js';
import { objectId } from '../../lib/ids.js';
import type {
  MediaAttachmentModel,
  MediaAttachmentRecord,
  MediaKind,
  MediaModel,
  MediaRecord,
} from './media.model.js';

/** A media file as the read model holds it: its record and the truth it is attached to. */
export interface StoredMedia extends MediaRecord {
  /** The truth it went with; null while unattached; `swept` once its files were deleted. */
  truthId: string | null;
}

/** `truthId` of an upload the sweeper removed. */
export const sweptMarker = 'swept';

interface MediaWire {
  id: string;
  ownerId: string;
  kind: MediaKind;
  contentType: string;
  byteSize: number;
  file: string;
  thumbnailFile: string | null;
  width: number | null;
  height: number | null;
  createdAt: string;
  truthId: string | null;
}

const encode = (media: StoredMedia) =>
  JSON.stringify({
    id: media._id.toHexString(),
    ownerId: media.ownerId.toHexString(),
    kind: media.kind,
    contentType: media.contentType,
    byteSize: media.byteSize,
    file: media.file,
    thumbnailFile: media.thumbnailFile,
    width: media.width,
    height: media.height,
    createdAt: media.createdAt.toISOString(),
    truthId: media.truthId,
  } satisfies MediaWire);

const decode = (text: string): StoredMedia => {
  const wire = JSON.parse(text) as MediaWire;
  return {
    _id: objectId(wire.id),
    ownerId: objectId(wire.ownerId),
    kind: wire.kind,
    contentType: wire.contentType,
    byteSize: wire.byteSize,
    file: wire.file,
    thumbnailFile: wire.thumbnailFile,
    width: wire.width,
    height: wire.height,
    createdAt: new Date(wire.createdAt),
    truthId: wire.truthId,
  };
};

// KEYS: the record. ARGV: record text, channel, id. Writes a record, tells every instance.
const putSource = `
redis.call('SET', KEYS[1], ARGV[1])
publish(ARGV[2], ARGV[3])
return 1
`;

// KEYS: the unattached uploads. ARGV: id, creation time (ms) or '' once attached.
const listSource = `
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 1
`;

// KEYS: the unattached uploads. ARGV: created before (ms), how many. Oldest first.
const oldestSource = `return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))`;

/**
 * The media's part of the read model (infra/read-model.ts): every uploaded file's record with
 * the truth it is attached to (`media:{<id>}`, tagged by the upload), and the sweeper's list of
 * uploads attached to nothing (`media-unattached`, one key of its own, no tag). Rebuilt from
 * `media` and `media_attachments`.
 * Outside the model, one short-lived key per upload URL (`<ns>:media:upload:{<id>}`) says it was
 * used: MongoDB's `_id` on `media` refuses a second upload that got past it after a flush.
 */
export function createMediaStore(deps: {
  model: ReadModel;
  redis: RedisClients;
  Media: MediaModel;
  MediaAttachment: MediaAttachmentModel;
  logger: Logger;
}) {
  const { model, redis, Media, MediaAttachment, logger } = deps;
  const records = createModelRecords<StoredMedia>({
    model,
    redis,
    family: 'media',
    encode,
    decode,
    logger,
  });
  const put = model.script(putSource);
  const list = model.script(listSource);
  const oldest = model.script(oldestSource);
  /** Sorted set: ids of uploads attached to nothing, by creation time (the sweeper's list). */
  const unattached = `${model.prefix}media-unattached`;
  const uploadKey = (mediaId: string) => `${redis.namespace}:media:upload:{${mediaId}}`;

  model.family('media', async () => {
    const attachments = new Map<string, string>();
    await scanCollection<MediaAttachmentRecord>(MediaAttachment, (batch) => {
      for (const attachment of batch) {
        attachments.set(
          attachment._id.toHexString(),
          attachment.truthId?.toHexString() ?? sweptMarker,
        );
      }
    });
    await scanCollection<MediaRecord>(Media, async (batch) => {
      // Many uploads' keys: a batch (a cluster pipeline must stay on one node).
      const pipeline = redis.batch();
      for (const media of batch) {
        const id = media._id.toHexString();
        const truthId = attachments.get(id) ?? null;
        pipeline.set(records.keyOf(id), encode({ ...media, truthId }));
        if (truthId === null) pipeline.zadd(unattached, media.createdAt.getTime(), id);
      }
      await pipeline.exec();
    });
  });

  return {
    records,

    /**
     * Writes a media record (a new upload, one attached now, one swept) and keeps the
     * unattached list in step. The record and the list are in different slots: two scripts,
     * sent in the same tick (one round trip on a single Redis, executed in order). Between
     * them a reader may see the record changed and the list not yet; the sweeper takes the
     * record as the truth (it claims an upload in MongoDB and reads its record before
     * deleting anything), so the list is only its list of candidates.
     */
    async put(media: StoredMedia): Promise<void> {
      const id = media._id.toHexString();
      records.forget(id);
      await Promise.all([
        put.run(redis.command, [records.keyOf(id)], [encode(media), records.channel, id]),
        list.run(
          redis.command,
          [unattached],
          [id, media.truthId === null ? media.createdAt.getTime() : ''],
        ),
      ]);
    },

    /** Up to `limit` ids of uploads attached to nothing, created before `before`, oldest first. */
    oldestUnattached: async (before: Date, limit: number): Promise<string[]> =>
      (await oldest.run(redis.command, [unattached], [before.getTime(), limit])) as string[],

    /**
     * Marks an upload URL used: true the first time, false after. Kept as long as the URL is
     * valid; past that the token itself is refused.
     */
    async claimUpload(mediaId: string, ttlSeconds: number): Promise<boolean> {
      return (await redis.command.set(uploadKey(mediaId), '1', 'EX', ttlSeconds, 'NX')) === 'OK';
    },
  };
}

export type MediaStore = ReturnType<typeof createMediaStore>;
