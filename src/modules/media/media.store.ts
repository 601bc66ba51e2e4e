import type { Logger } from '../../infra/logger.js';
import { createModelRecords } from '../../infra/model-store.js';
import { scanCollection } from '../../infra/mongo.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { Redis, RedisClients } from '../../infra/redis.js';
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
  /** The truth it went with; null while unattached. */
  truthId: string | null;
}

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

// KEYS: the record. ARGV: record text, channel, id. Writes a record and tells every instance.
const putSource = `
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`;

/**
 * The media's part of the read model (infra/read-model.ts): every uploaded file's record with
 * the truth it is attached to (`media:<id>`). Rebuilt from `media` and `media_attachments`.
 * Outside the model, one short-lived key per upload URL (`<ns>:media:upload:<id>`) says it was
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
  const uploadKey = (mediaId: string) => `${redis.namespace}:media:upload:${mediaId}`;

  model.family('media', async (client: Redis) => {
    const attachments = new Map<string, string>();
    await scanCollection<MediaAttachmentRecord>(MediaAttachment, (batch) => {
      for (const attachment of batch) {
        attachments.set(attachment._id.toHexString(), attachment.truthId.toHexString());
      }
    });
    await scanCollection<MediaRecord>(Media, async (batch) => {
      const pipeline = client.pipeline();
      for (const media of batch) {
        const id = media._id.toHexString();
        pipeline.set(records.keyOf(id), encode({ ...media, truthId: attachments.get(id) ?? null }));
      }
      await pipeline.exec();
    });
  });

  return {
    records,

    /** Writes a media record (a new upload, or one attached now). */
    async put(media: StoredMedia): Promise<void> {
      const id = media._id.toHexString();
      records.forget(id);
      await put.run(redis.command, [records.keyOf(id)], [encode(media), records.channel, id]);
    },

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
