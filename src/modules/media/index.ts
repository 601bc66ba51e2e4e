/**
 * The media module's face: upload URLs, uploads of images and short videos, and attaching them
 * to truths. Owns `media` and `media_attachments`, the read model's `media:*` and
 * `media-unattached` keys, the `media:upload:*` claims, and the files in the media store
 * (MEDIA_STORE).
 */
export { acceptedContentTypes, detectType } from './media.detect.js';
export {
  createMediaAttachmentModel,
  createMediaModel,
  type MediaKind,
  type MediaRecord,
} from './media.model.js';
export { mediaResolvers } from './media.resolvers.js';
export {
  UploadRefusal,
  createMediaService,
  maxAltTextLength,
  maxMediaPerTruth,
  type AttachedMedia,
  type MediaDescriptor,
  type MediaService,
  type MediaToAttach,
  type UploadGrant,
} from './media.service.js';
export { createMediaStorage, type MediaStorage } from './media.storage.js';
export { createMediaStore, type MediaStore } from './media.store.js';
