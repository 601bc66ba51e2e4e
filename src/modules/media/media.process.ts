import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { badUserInput } from '../../lib/errors.js';
import type { DetectedType } from './media.detect.js';

/** A file ready to store: its bytes as served, and an image's thumbnail and size. */
export interface ProcessedMedia {
  bytes: Buffer;
  contentType: string;
  extension: string;
  /** Hex SHA-256 of `bytes`: part of the file's name and its ETag. */
  hash: string;
  thumbnail: Buffer | null;
  width: number | null;
  height: number | null;
}

/** The longest side of a stored image, and of its thumbnail, in pixels. */
const maxImageSide = 4_096;
const thumbnailSide = 400;
/**
 * The most pixels an image may decode to (sharp's default is 268 million): a small file that
 * declares enormous dimensions (a decompression bomb) is refused before it is decoded.
 */
const maxInputPixels = 50_000_000;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const notAnImage = () =>
  badUserInput('The file is not a readable JPEG, PNG, WebP or GIF image.', 'file');

/**
 * Re-encodes an image: turned upright by its EXIF orientation, then stripped of every metadata
 * block (EXIF with its GPS position, XMP, IPTC, comments; colours converted to sRGB), scaled
 * down to at most 4,096 pixels on its longest side, in its own format (a GIF stays animated),
 * with a WebP thumbnail of its first frame. Whatever cannot be decoded in full is refused
 * with BAD_USER_INPUT. A video is kept as it came (Verity has no video encoder): it was
 * recognised by its signature only.
 */
export async function processMedia(input: Buffer, type: DetectedType): Promise<ProcessedMedia> {
  if (type.kind === 'VIDEO') {
    return {
      bytes: input,
      contentType: type.contentType,
      extension: type.extension,
      hash: sha256(input),
      thumbnail: null,
      width: null,
      height: null,
    };
  }
  const animated = type.extension === 'gif';
  const source = () =>
    sharp(input, { animated, limitInputPixels: maxInputPixels, failOn: 'error' });
  try {
    let pipeline = source().autoOrient().resize({
      width: maxImageSide,
      height: maxImageSide,
      fit: 'inside',
      withoutEnlargement: true,
    });
    switch (type.extension) {
      case 'jpg':
        pipeline = pipeline.jpeg({ quality: 85, mozjpeg: true });
        break;
      case 'png':
        pipeline = pipeline.png({ compressionLevel: 9 });
        break;
      case 'webp':
        pipeline = pipeline.webp({ quality: 85 });
        break;
      case 'gif':
        pipeline = pipeline.gif();
        break;
    }
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    const thumbnail = await sharp(input, { limitInputPixels: maxInputPixels, failOn: 'error' })
      .autoOrient()
      .resize({
        width: thumbnailSide,
        height: thumbnailSide,
        fit: 'inside',
        withoutEnlargement: true,
      })
      .webp({ quality: 80 })
      .toBuffer();
    return {
      bytes: data,
      contentType: type.contentType,
      extension: type.extension,
      hash: sha256(data),
      thumbnail,
      width: info.width,
      // An animated image's output height is that of all its frames stacked.
      height: animated && info.pageHeight ? info.pageHeight : info.height,
    };
  } catch {
    throw notAnImage();
  }
}
