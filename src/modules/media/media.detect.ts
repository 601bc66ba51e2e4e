import type { MediaKind } from './media.model.js';

/** A file type Verity accepts, as recognised from its first bytes. */
export interface DetectedType {
  kind: MediaKind;
  contentType: string;
  extension: string;
}

const types = {
  jpeg: { kind: 'IMAGE', contentType: 'image/jpeg', extension: 'jpg' },
  png: { kind: 'IMAGE', contentType: 'image/png', extension: 'png' },
  webp: { kind: 'IMAGE', contentType: 'image/webp', extension: 'webp' },
  gif: { kind: 'IMAGE', contentType: 'image/gif', extension: 'gif' },
  mp4: { kind: 'VIDEO', contentType: 'video/mp4', extension: 'mp4' },
  webm: { kind: 'VIDEO', contentType: 'video/webm', extension: 'webm' },
} as const satisfies Record<string, DetectedType>;

/** The content types a client may announce for each kind (`createMediaUpload`). */
export const acceptedContentTypes: Readonly<Record<MediaKind, readonly string[]>> = {
  IMAGE: ['image/jpeg', 'image/png', 'image/webp', 'image/gif'],
  VIDEO: ['video/mp4', 'video/webm'],
};

const startsWith = (bytes: Uint8Array, signature: readonly number[], offset = 0) =>
  bytes.length >= offset + signature.length &&
  signature.every((byte, i) => bytes[offset + i] === byte);

const ascii = (text: string) => [...text].map((char) => char.charCodeAt(0));

/**
 * The type of a file from its signature (magic bytes), never from its name or a header: JPEG,
 * PNG, WebP, GIF, MP4 (an ISO base media file: `ftyp` box first) or WebM (an EBML header whose
 * DocType is `webm`). Undefined for anything else. A signature only says what a file claims to
 * be: images are then decoded in full (media.process.ts), which refuses a fake.
 */
export function detectType(bytes: Uint8Array): DetectedType | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return types.jpeg;
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return types.png;
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return types.webp;
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) return types.gif;
  if (startsWith(bytes, ascii('ftyp'), 4)) {
    // QuickTime (`qt  `) and HEIF images (`heic`, `mif1`, `avif`...) share the box: only MP4
    // brands are videos Verity serves as video/mp4.
    const brand = String.fromCharCode(...bytes.subarray(8, 12));
    if (/^(isom|iso[2-9]|mp41|mp42|avc1|dash|M4V |MSNV)$/.test(brand)) return types.mp4;
    return undefined;
  }
  if (startsWith(bytes, [0x1a, 0x45, 0xdf, 0xa3])) {
    // The DocType element (0x42 0x82) sits within the EBML header's first bytes.
    const header = Buffer.from(bytes.subarray(0, 64));
    const docType = header.indexOf(Buffer.from([0x42, 0x82]));
    if (docType >= 0 && header.subarray(docType + 3, docType + 7).toString('latin1') === 'webm') {
      return types.webm;
    }
  }
  return undefined;
}
