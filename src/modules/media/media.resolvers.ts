import { requireViewer } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { toGlobalId } from '../../graphql/global-id.js';

export const mediaResolvers: Resolvers = {
  Mutation: {
    createMediaUpload: async (_parent, { input }, context) => {
      const viewer = requireViewer(context);
      const upload = await context.services.media.createUpload(viewer.id, input);
      return {
        uploadUrl: upload.uploadUrl,
        mediaId: toGlobalId('Media', upload.mediaId),
        expiresAt: upload.expiresAt,
        maxBytes: upload.maxBytes,
      };
    },
  },

  MediaAttachment: {
    id: (media) => toGlobalId('Media', media.id),
    url: (media, _args, context) => context.services.media.urlOf(media.file),
    thumbnailUrl: (media, _args, context) =>
      media.thumbnailFile ? context.services.media.urlOf(media.thumbnailFile) : null,
  },
};
