import sharp from 'sharp';
import type { BenchServer } from './stack.js';

const createUpload =
  'mutation($i: CreateMediaUploadInput!) { createMediaUpload(input: $i) { uploadUrl mediaId } }';

let image: Promise<Buffer> | undefined;

/** A small photo-like PNG (64×48), made once. */
const smallImage = () =>
  (image ??= sharp({
    create: { width: 64, height: 48, channels: 3, background: { r: 90, g: 140, b: 200 } },
  })
    .png()
    .toBuffer());

/**
 * Uploads a small image as the holder of `token`, as a client does (an upload URL, then its
 * bytes), and returns the media's global ID, for `postTruth`'s `media`.
 */
export async function uploadImage(server: BenchServer, token: string): Promise<string> {
  const asked = await server.gql<{ createMediaUpload: { uploadUrl: string; mediaId: string } }>(
    createUpload,
    { i: { kind: 'IMAGE', contentType: 'image/png' } },
    token,
  );
  if (!asked.data) throw new Error(`createMediaUpload failed: ${JSON.stringify(asked.errors)}`);
  const { uploadUrl, mediaId } = asked.data.createMediaUpload;
  // The URL is under PUBLIC_URL; the bench's server listens elsewhere.
  const given = new URL(uploadUrl);
  const response = await fetch(new URL(`${given.pathname}${given.search}`, server.url), {
    method: 'PUT',
    body: await smallImage(),
  });
  if (response.status !== 201) {
    throw new Error(`upload answered ${response.status}: ${await response.text()}`);
  }
  return mediaId;
}
