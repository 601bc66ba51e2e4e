import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AwsClient } from 'aws4fetch';
import type { Config } from '../../config.js';

/**
 * Where media files live: written once under a name that is never reused, read many times,
 * deleted when an upload fails half-way or an unattached upload is swept.
 */
export interface MediaStorage {
  put(name: string, bytes: Buffer, contentType: string): Promise<void>;
  /** Deletes a file; nothing happens when there is none. */
  delete(name: string): Promise<void>;
  /** The file on this machine's disk (the directory store), for the HTTP layer to send. */
  localPath?(name: string): string;
  /** The file, or a range of it (`Range` header as received), from a remote store. */
  fetch?(name: string, range: string | undefined): Promise<Response>;
}

/**
 * A directory (MEDIA_DIR, `<DATA_DIR>/media` by default). A file is written under a temporary
 * name and renamed: a reader never sees half a file, and a crash leaves only a `.tmp-*` file.
 */
export function createDirectoryStorage(directory: string): MediaStorage {
  let made: Promise<unknown> | undefined;
  const fileOf = (name: string) => path.join(directory, path.basename(name));
  return {
    async put(name, bytes) {
      made ??= mkdir(directory, { recursive: true });
      await made;
      const temporary = path.join(directory, `.tmp-${randomBytes(8).toString('hex')}`);
      try {
        await writeFile(temporary, bytes);
        await rename(temporary, fileOf(name));
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
    },
    async delete(name) {
      await rm(fileOf(name), { force: true });
    },
    localPath: fileOf,
  };
}

/**
 * An S3-compatible bucket (AWS S3, MinIO, R2, ...), spoken to with SigV4-signed requests. The
 * bucket is private to Verity unless MEDIA_PUBLIC_URL points clients at it (or at a CDN);
 * otherwise Verity reads files from it to serve them.
 */
export function createS3Storage(
  settings: Extract<Config['media']['store'], { kind: 's3' }>,
): MediaStorage {
  const client = new AwsClient({
    accessKeyId: settings.accessKeyId,
    secretAccessKey: settings.secretAccessKey,
    region: settings.region,
    service: 's3',
  });
  const endpoint = new URL(settings.endpoint);
  const urlOf = (name: string) =>
    settings.forcePathStyle
      ? `${endpoint.origin}${endpoint.pathname.replace(/\/$/, '')}/${settings.bucket}/${encodeURIComponent(name)}`
      : `${endpoint.protocol}//${settings.bucket}.${endpoint.host}${endpoint.pathname.replace(/\/$/, '')}/${encodeURIComponent(name)}`;
  const failed = async (action: string, response: Response) =>
    new Error(
      `media store: ${action} answered ${response.status}: ${(await response.text()).slice(0, 200)}`,
    );
  return {
    async put(name, bytes, contentType) {
      const response = await client.fetch(urlOf(name), {
        method: 'PUT',
        body: bytes,
        headers: { 'content-type': contentType, 'content-length': String(bytes.length) },
      });
      if (!response.ok) throw await failed('PUT', response);
      await response.body?.cancel();
    },
    async delete(name) {
      const response = await client.fetch(urlOf(name), { method: 'DELETE' });
      if (!response.ok && response.status !== 404) throw await failed('DELETE', response);
      await response.body?.cancel();
    },
    fetch: (name, range) =>
      client.fetch(urlOf(name), { method: 'GET', headers: range ? { range } : {} }),
  };
}

/** The store MEDIA_STORE names. */
export function createMediaStorage(store: Config['media']['store']): MediaStorage {
  return store.kind === 's3' ? createS3Storage(store) : createDirectoryStorage(store.directory);
}
