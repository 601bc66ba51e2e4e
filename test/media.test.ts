import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { SignJWT } from 'jose';
import sharp from 'sharp';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestUser } from './helpers/graphql.js';
import { testJwtSecret, useVerity } from './helpers/server.js';
import { userIdHex } from './helpers/tokens.js';

const publicUrl = 'https://verity.example';
const mediaDir = mkdtempSync(path.join(os.tmpdir(), 'verity-media-test-'));
afterAll(() => rmSync(mediaDir, { recursive: true, force: true }));

const createUpload = /* GraphQL */ `
  mutation ($input: CreateMediaUploadInput!) {
    createMediaUpload(input: $input) {
      uploadUrl
      mediaId
      expiresAt
      maxBytes
    }
  }
`;
const mediaFields = 'id kind contentType url thumbnailUrl width height altText';
const postWithMedia = /* GraphQL */ `
  mutation ($input: PostTruthInput!) {
    postTruth(input: $input) { truth { id text media { ${mediaFields} } } }
  }
`;
const readTruth = `query ($id: ID!) { truth(id: $id) { id media { ${mediaFields} } } }`;

/** A PNG of `width`×`height` with an EXIF block (a camera, a copyright) and a text chunk. */
const pngWithMetadata = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 90 } } })
    .png()
    .withExif({ IFD0: { Make: 'SecretCam', Copyright: 'private person' } })
    .toBuffer();

/** A JPEG 300 wide and 200 high, stored sideways: EXIF orientation 6 (turn 90° clockwise). */
const sidewaysJpeg = () =>
  sharp({ create: { width: 300, height: 200, channels: 3, background: '#3366cc' } })
    .jpeg()
    .withExifMerge({ IFD0: { Make: 'SecretCam' } })
    .withMetadata({ orientation: 6 })
    .toBuffer();

/** The smallest MP4 prelude: an `ftyp` box (brand isom), then an empty `mdat`. */
const mp4Bytes = () =>
  Buffer.concat([
    Buffer.from([0, 0, 0, 0x18]),
    Buffer.from('ftypisom'),
    Buffer.from([0, 0, 2, 0]),
    Buffer.from('isomiso2'),
    Buffer.from([0, 0, 0, 0x10]),
    Buffer.from('mdat'),
    Buffer.alloc(8, 1),
  ]);

describe('media', () => {
  const verity = useVerity({
    monitorCommands: true,
    env: {
      PUBLIC_URL: publicUrl,
      MEDIA_DIR: mediaDir,
      MEDIA_MAX_IMAGE_BYTES: '300000',
      MEDIA_MAX_VIDEO_BYTES: '50000',
    },
  });

  /** A URL Verity gave (under PUBLIC_URL), pointed at the test server instead. */
  const local = (url: string) => {
    expect(url.startsWith(publicUrl)).toBe(true);
    const given = new URL(url);
    return new URL(`${given.pathname}${given.search}`, verity.url).toString();
  };

  const storedFiles = () => readdirSync(mediaDir).sort();
  const mediaRecords = () => verity.app.internals.models.Media.countDocuments().exec();

  const requestUpload = async (user: TestUser, input: Record<string, unknown>) => {
    const result = await verity.gql(createUpload, { input }, { token: user.token });
    expect(result.errors).toBeUndefined();
    return result.data!['createMediaUpload'] as {
      uploadUrl: string;
      mediaId: string;
      expiresAt: string;
      maxBytes: number;
    };
  };

  const put = (
    uploadUrl: string,
    body: Buffer | ReadableStream,
    headers: Record<string, string> = {},
  ) =>
    fetch(local(uploadUrl), {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/octet-stream', ...headers },
      ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
    });

  /** Uploads `bytes` as `user`, expecting success; the descriptor and the media id. */
  const upload = async (user: TestUser, bytes: Buffer, kind = 'IMAGE') => {
    const ticket = await requestUpload(user, { kind });
    const response = await put(ticket.uploadUrl, bytes);
    expect(response.status).toBe(201);
    return { mediaId: ticket.mediaId, descriptor: (await response.json()) as Record<string, any> };
  };

  const postMedia = (user: TestUser, media: { id: string; altText?: string }[], text = 'look') =>
    verity.gql(postWithMedia, { input: { text, media } }, { token: user.token });

  it('re-encodes an uploaded image without its metadata, attaches it and serves it for a year', async () => {
    const author = await verity.signUp();
    const original = await pngWithMetadata(1200, 800);
    expect((await sharp(original).metadata()).exif).toBeDefined();

    const ticket = await requestUpload(author, {
      kind: 'IMAGE',
      contentType: 'image/png',
      byteSize: original.length,
    });
    expect(ticket.uploadUrl.startsWith(`${publicUrl}/media/uploads?token=`)).toBe(true);
    expect(ticket.maxBytes).toBe(300_000);
    expect(new Date(ticket.expiresAt).getTime()).toBeGreaterThan(Date.now());

    const uploaded = await put(ticket.uploadUrl, original, { 'content-type': 'text/plain' });
    expect(uploaded.status).toBe(201);
    const descriptor = (await uploaded.json()) as Record<string, unknown>;
    expect(descriptor).toMatchObject({
      kind: 'IMAGE',
      contentType: 'image/png',
      width: 1200,
      height: 800,
    });

    const posted = await postMedia(author, [{ id: ticket.mediaId, altText: '  a pink field  ' }]);
    expect(posted.errors).toBeUndefined();
    const truth = posted.data!['postTruth'].truth;
    const read = await verity.gql(readTruth, { id: truth.id });
    expect(read.errors).toBeUndefined();
    const [media] = read.data!['truth'].media;
    expect(read.data!['truth'].media).toHaveLength(1);
    expect(media).toMatchObject({
      id: ticket.mediaId,
      kind: 'IMAGE',
      contentType: 'image/png',
      width: 1200,
      height: 800,
      altText: 'a pink field',
    });
    expect(truth.media).toEqual(read.data!['truth'].media);

    const file = await fetch(local(media.url));
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/png');
    expect(file.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(file.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = file.headers.get('etag');
    expect(etag).toMatch(/^"[0-9a-f]{24}-[0-9a-f]{16}"$/);
    const served = await sharp(Buffer.from(await file.arrayBuffer())).metadata();
    expect(served).toMatchObject({ format: 'png', width: 1200, height: 800 });
    expect(served.exif).toBeUndefined();
    expect(served.xmp).toBeUndefined();
    expect(served.comments).toBeUndefined();

    const again = await fetch(local(media.url), { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);

    const thumbnail = await fetch(local(media.thumbnailUrl));
    expect(thumbnail.status).toBe(200);
    expect(thumbnail.headers.get('content-type')).toBe('image/webp');
    expect(thumbnail.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const small = await sharp(Buffer.from(await thumbnail.arrayBuffer())).metadata();
    expect(small).toMatchObject({ format: 'webp', width: 400, height: 267 });
    expect(small.exif).toBeUndefined();
  });

  it('turns a sideways JPEG upright by its EXIF orientation, then drops the EXIF', async () => {
    const author = await verity.signUp();
    const sideways = await sharp(await sidewaysJpeg()).metadata();
    expect(sideways).toMatchObject({ orientation: 6, width: 300, height: 200 });
    expect(sideways.exif?.includes('SecretCam')).toBe(true);
    const { descriptor } = await upload(author, await sidewaysJpeg());
    expect(descriptor).toMatchObject({ contentType: 'image/jpeg', width: 200, height: 300 });
    const served = await sharp(
      Buffer.from(await (await fetch(local(descriptor['url']))).arrayBuffer()),
    ).metadata();
    expect(served).toMatchObject({ format: 'jpeg', width: 200, height: 300 });
    expect(served.exif).toBeUndefined();
    expect(served.orientation).toBeUndefined();
  });

  it('refuses a text file that claims to be a PNG, and keeps nothing of it', async () => {
    const author = await verity.signUp();
    const filesBefore = storedFiles();
    const recordsBefore = await mediaRecords();
    const ticket = await requestUpload(author, { kind: 'IMAGE', contentType: 'image/png' });
    const response = await put(
      ticket.uploadUrl,
      Buffer.from('not a picture at all, just words.png\n'),
      {
        'content-type': 'image/png',
      },
    );
    expect(response.status).toBe(415);
    const body = (await response.json()) as {
      errors: { message: string; extensions: { code: string } }[];
    };
    expect(body.errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
    expect(body.errors[0]!.message).toMatch(/not a JPEG, PNG, WebP or GIF image/);

    // A PNG signature followed by garbage passes the signature and fails the decode.
    const fake = await requestUpload(author, { kind: 'IMAGE' });
    const garbage = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(2_000, 7),
    ]);
    const refused = await put(fake.uploadUrl, garbage);
    expect(refused.status).toBe(415);

    expect(storedFiles()).toEqual(filesBefore);
    expect(await mediaRecords()).toBe(recordsBefore);
    const attached = await postMedia(author, [{ id: ticket.mediaId }]);
    expect(attached.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('refuses a file over the limit, whether it says its length or streams it, and keeps nothing', async () => {
    const author = await verity.signUp();
    const filesBefore = storedFiles();
    const recordsBefore = await mediaRecords();

    const announced = await verity.gql(
      createUpload,
      { input: { kind: 'IMAGE', byteSize: 300_001 } },
      { token: author.token },
    );
    expect(announced.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'byteSize',
    });

    const big = Buffer.alloc(400_000, 0xab);
    const declared = await requestUpload(author, { kind: 'IMAGE' });
    const tooLong = await put(declared.uploadUrl, big);
    expect(tooLong.status).toBe(413);
    expect(
      ((await tooLong.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!
        .extensions.code,
    ).toBe('BAD_USER_INPUT');

    // No Content-Length: the body is counted as it arrives.
    const streamed = await requestUpload(author, { kind: 'IMAGE' });
    const chunks = Readable.toWeb(
      Readable.from(
        (function* () {
          for (let i = 0; i < 40; i++) yield Buffer.alloc(10_000, i);
        })(),
      ),
    ) as ReadableStream;
    const cut = await put(streamed.uploadUrl, chunks);
    expect(cut.status).toBe(413);

    // A video's own limit applies to a video upload.
    const video = await requestUpload(author, { kind: 'VIDEO' });
    expect(video.maxBytes).toBe(50_000);
    const longVideo = await put(video.uploadUrl, Buffer.concat([mp4Bytes(), Buffer.alloc(60_000)]));
    expect(longVideo.status).toBe(413);

    expect(storedFiles()).toEqual(filesBefore);
    expect(await mediaRecords()).toBe(recordsBefore);
  });

  it('accepts a short MP4 by its signature, and refuses a video sent to an image URL', async () => {
    const author = await verity.signUp();
    const { mediaId, descriptor } = await upload(author, mp4Bytes(), 'VIDEO');
    expect(descriptor).toMatchObject({
      kind: 'VIDEO',
      contentType: 'video/mp4',
      thumbnailUrl: null,
      width: null,
    });
    const posted = await postMedia(author, [{ id: mediaId, altText: 'a clip' }], '');
    expect(posted.errors).toBeUndefined();
    const [media] = posted.data!['postTruth'].truth.media;
    expect(media).toMatchObject({ kind: 'VIDEO', contentType: 'video/mp4', thumbnailUrl: null });
    const file = await fetch(local(media.url));
    expect(file.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.from(await file.arrayBuffer()).equals(mp4Bytes())).toBe(true);

    const imageUrl = await requestUpload(author, { kind: 'IMAGE' });
    expect((await put(imageUrl.uploadUrl, mp4Bytes())).status).toBe(415);
    const asImage = await verity.gql(
      createUpload,
      { input: { kind: 'VIDEO', contentType: 'image/png' } },
      { token: author.token },
    );
    expect(asImage.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'contentType',
    });
  });

  it('attaches at most four files, refuses a fifth, and leaves all five free', async () => {
    const author = await verity.signUp();
    const image = await pngWithMetadata(20, 20);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await upload(author, image)).mediaId);

    const five = await postMedia(
      author,
      ids.map((id) => ({ id })),
    );
    expect(five.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'media' });
    const truths = await verity.app.internals.models.Truth.countDocuments({
      authorId: userIdHex(author.id),
    }).exec();
    expect(truths).toBe(0);

    const four = await postMedia(
      author,
      ids.slice(0, 4).map((id, i) => ({ id, altText: `picture ${i}` })),
    );
    expect(four.errors).toBeUndefined();
    expect(four.data!['postTruth'].truth.media.map((media: { id: string }) => media.id)).toEqual(
      ids.slice(0, 4),
    );
    const fifth = await postMedia(author, [{ id: ids[4]! }]);
    expect(fifth.errors).toBeUndefined();
  });

  it('refuses media already attached, named twice, or with alt text over 1,000 characters', async () => {
    const author = await verity.signUp();
    const image = await pngWithMetadata(10, 10);
    const first = await upload(author, image);
    expect((await postMedia(author, [{ id: first.mediaId }])).errors).toBeUndefined();
    const reused = await postMedia(author, [{ id: first.mediaId }]);
    expect(reused.errors?.[0]?.extensions?.code).toBe('CONFLICT');

    const second = await upload(author, image);
    const twice = await postMedia(author, [{ id: second.mediaId }, { id: second.mediaId }]);
    expect(twice.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const wordy = await postMedia(author, [{ id: second.mediaId, altText: 'a'.repeat(1_001) }]);
    expect(wordy.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const notMedia = await postMedia(author, [{ id: author.id }]);
    expect(notMedia.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'media',
    });
    // Refused posts attached nothing: the file still goes with a truth.
    expect(
      (await postMedia(author, [{ id: second.mediaId, altText: 'a'.repeat(1_000) }])).errors,
    ).toBeUndefined();
  });

  it('gives a file to one of two posts racing for it, and the other changes nothing', async () => {
    const author = await verity.signUp();
    const { mediaId } = await upload(author, await pngWithMetadata(10, 10));
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) => postMedia(author, [{ id: mediaId }], `race ${i}`)),
    );
    const won = results.filter((result) => result.errors === undefined);
    expect(won).toHaveLength(1);
    for (const lost of results.filter((result) => result.errors !== undefined)) {
      expect(lost.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    }
    const truths = await verity.app.internals.models.Truth.find({
      authorId: userIdHex(author.id),
    })
      .lean()
      .exec();
    expect(truths).toHaveLength(1);
    expect(truths[0]!.media?.map((media) => media.id)).toEqual([
      Buffer.from(mediaId, 'base64url').toString('utf8').split(':')[1],
    ]);
  });

  it('refuses to attach someone else’s upload, or to upload with their URL under another session', async () => {
    const owner = await verity.signUp();
    const other = await verity.signUp();
    const { mediaId } = await upload(owner, await pngWithMetadata(10, 10));
    const stolen = await postMedia(other, [{ id: mediaId }]);
    expect(stolen.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const ticket = await requestUpload(owner, { kind: 'IMAGE' });
    const response = await put(ticket.uploadUrl, await pngWithMetadata(10, 10), {
      authorization: `Bearer ${other.token}`,
    });
    expect(response.status).toBe(403);
    // The owner still can.
    expect((await postMedia(owner, [{ id: mediaId }])).errors).toBeUndefined();
  });

  it('takes one upload per URL, and refuses an expired or forged one', async () => {
    const author = await verity.signUp();
    const image = await pngWithMetadata(10, 10);
    const ticket = await requestUpload(author, { kind: 'IMAGE' });
    expect((await put(ticket.uploadUrl, image)).status).toBe(201);
    const recordsAfterFirst = await mediaRecords();
    const filesAfterFirst = storedFiles();
    const second = await put(ticket.uploadUrl, image);
    expect(second.status).toBe(409);
    expect(
      ((await second.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!
        .extensions.code,
    ).toBe('CONFLICT');
    expect(await mediaRecords()).toBe(recordsAfterFirst);
    expect(storedFiles()).toEqual(filesAfterFirst);

    const sign = (secret: string, expiresAt: number) =>
      new SignJWT({ kind: 'media-upload', mid: '0123456789abcdef01234567', mk: 'IMAGE' })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer('verity')
        .setAudience('media-upload')
        .setSubject(userIdHex(author.id))
        .setIssuedAt(expiresAt - 600)
        .setExpirationTime(expiresAt)
        .sign(new TextEncoder().encode(secret));
    const now = Math.floor(Date.now() / 1000);
    const uploadUrl = (token: string) => `${publicUrl}/media/uploads?token=${token}`;

    const expired = await put(uploadUrl(await sign(testJwtSecret, now - 60)), image);
    expect(expired.status).toBe(401);
    expect(
      ((await expired.json()) as { errors: { message: string }[] }).errors[0]!.message,
    ).toMatch(/expired/);
    const forged = await put(
      uploadUrl(await sign('another-secret-another-secret-another', now + 600)),
      image,
    );
    expect(forged.status).toBe(401);
    expect((await put(`${publicUrl}/media/uploads`, image)).status).toBe(401);
    // A session token is not an upload URL.
    expect((await put(uploadUrl(author.token), image)).status).toBe(401);
    expect(await mediaRecords()).toBe(recordsAfterFirst);
  });

  it('gives a WebSocket client an upload URL too, and its upload attaches over the socket', async () => {
    const author = await verity.signUp();
    const client = verity.connect(author.token);
    const asked = await verity.execute(client, createUpload, { input: { kind: 'IMAGE' } });
    expect(asked.errors).toBeUndefined();
    const { uploadUrl, mediaId } = asked.data!['createMediaUpload'];
    expect((await put(uploadUrl, await pngWithMetadata(16, 16))).status).toBe(201);
    const posted = await verity.execute(client, postWithMedia, {
      input: { text: 'over the socket', media: [{ id: mediaId, altText: 'square' }] },
    });
    expect(posted.errors).toBeUndefined();
    expect(posted.data!['postTruth'].truth.media).toMatchObject([
      { id: mediaId, width: 16, height: 16, altText: 'square' },
    ]);
  });

  it('needs a session to ask for an upload URL', async () => {
    const result = await verity.gql(createUpload, { input: { kind: 'IMAGE' } });
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('serves no file by a name it did not give, and answers a missing one 404', async () => {
    for (const name of [
      '..%2F..%2Fetc%2Fpasswd',
      'abc.png',
      '0123456789abcdef01234567-0123456789abcdef.png',
    ]) {
      const response = await fetch(new URL(`/media/${name}`, verity.url));
      expect(response.status).toBe(404);
      expect(response.headers.get('cache-control') ?? '').not.toMatch(/immutable/);
    }
  });

  it('keeps what is attached to what across a rebuild of the read model', async () => {
    const author = await verity.signUp();
    const image = await pngWithMetadata(10, 10);
    const used = await upload(author, image);
    const free = await upload(author, image);
    const posted = await postMedia(author, [{ id: used.mediaId, altText: 'kept' }]);
    expect(posted.errors).toBeUndefined();

    await verity.app.internals.model.rebuild();

    const read = await verity.gql(readTruth, { id: posted.data!['postTruth'].truth.id });
    expect(read.data!['truth'].media).toEqual(posted.data!['postTruth'].truth.media);
    expect((await postMedia(author, [{ id: used.mediaId }])).errors?.[0]?.extensions?.code).toBe(
      'CONFLICT',
    );
    expect((await postMedia(author, [{ id: free.mediaId }])).errors).toBeUndefined();
  });

  it('sweeps uploads left unattached past their time, files and all, and keeps attached ones', async () => {
    const author = await verity.signUp();
    const image = await pngWithMetadata(12, 12);
    const kept = await upload(author, image);
    const left = await upload(author, image);
    expect((await postMedia(author, [{ id: kept.mediaId }])).errors).toBeUndefined();
    const fileOf = (url: string) => url.split('/').pop()!;
    const leftFiles = [left.descriptor['url'], left.descriptor['thumbnailUrl']].map(fileOf);
    const keptFiles = [kept.descriptor['url'], kept.descriptor['thumbnailUrl']].map(fileOf);
    const { media } = verity.app.internals.services;

    // Not old enough yet.
    await media.sweep(1_000);
    expect(storedFiles()).toEqual(expect.arrayContaining([...leftFiles, ...keptFiles]));

    const dayAfterTomorrow = new Date(Date.now() + 2 * 24 * 3600 * 1000);
    expect(await media.sweep(1_000, dayAfterTomorrow)).toBeGreaterThanOrEqual(1);
    const files = storedFiles();
    expect(files).toEqual(expect.arrayContaining(keptFiles));
    for (const file of leftFiles) expect(files).not.toContain(file);
    expect((await fetch(local(left.descriptor['url']))).status).toBe(404);
    expect((await fetch(local(kept.descriptor['url']))).status).toBe(200);

    const late = await postMedia(author, [{ id: left.mediaId }]);
    expect(late.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await media.sweep(1_000, dayAfterTomorrow)).toBe(0);
    await verity.app.internals.model.rebuild();
    expect(await media.sweep(1_000, dayAfterTomorrow)).toBe(0);
    const afterRebuild = await postMedia(author, [{ id: left.mediaId }]);
    expect(afterRebuild.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('reads no MongoDB collection to upload, attach, read or serve media: only inserts', async () => {
    const author = await verity.signUp();
    const image = await pngWithMetadata(30, 30);
    const client = verity.app.internals.connection.getClient();
    const seen: string[] = [];
    const listener = (event: { commandName: string; command: Record<string, unknown> }) => {
      seen.push(`${event.commandName} ${String(event.command[event.commandName])}`);
    };
    client.on('commandStarted', listener);
    try {
      const { mediaId } = await upload(author, image);
      const posted = await postMedia(author, [{ id: mediaId }]);
      const read = await verity.gql(readTruth, { id: posted.data!['postTruth'].truth.id });
      const [media] = read.data!['truth'].media;
      expect((await fetch(local(media.url))).status).toBe(200);
      expect((await fetch(local(media.thumbnailUrl))).status).toBe(200);
    } finally {
      client.off('commandStarted', listener);
    }
    const allowed = (command: string) =>
      command.startsWith('insert ') || /^(ping|hello|isMaster|endSessions) /.test(command);
    expect(seen.filter((command) => !allowed(command))).toEqual([]);
    expect(seen.filter((command) => command.startsWith('insert ')).length).toBeGreaterThanOrEqual(
      3,
    );
  });
});

/**
 * A stand-in for an S3-compatible store, in this process: objects in a Map, path-style
 * (`/<bucket>/<key>`), PUT, GET (with a byte range) and DELETE, and every request refused
 * unless it carries a SigV4 `Authorization` header for the configured key, with its
 * `x-amz-date` and `x-amz-content-sha256`. It checks the signature's shape, not its value.
 */
function startS3StandIn(bucket: string, accessKeyId: string) {
  const objects = new Map<string, { body: Buffer; contentType: string }>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://s3.local');
      requests.push(`${req.method} ${url.pathname}`);
      const authorization = req.headers.authorization ?? '';
      if (
        !authorization.startsWith(`AWS4-HMAC-SHA256 Credential=${accessKeyId}/`) ||
        !/SignedHeaders=.*host.*Signature=[0-9a-f]{64}$/.test(authorization) ||
        !req.headers['x-amz-date'] ||
        !req.headers['x-amz-content-sha256']
      ) {
        res.writeHead(403).end('<Error><Code>AccessDenied</Code></Error>');
        return;
      }
      const prefix = `/${bucket}/`;
      if (!url.pathname.startsWith(prefix)) {
        res.writeHead(404).end('<Error><Code>NoSuchBucket</Code></Error>');
        return;
      }
      const key = decodeURIComponent(url.pathname.slice(prefix.length));
      const object = objects.get(key);
      if (req.method === 'PUT') {
        objects.set(key, {
          body: Buffer.concat(chunks),
          contentType: req.headers['content-type'] ?? 'application/octet-stream',
        });
        res.writeHead(200).end();
      } else if (req.method === 'DELETE') {
        objects.delete(key);
        res.writeHead(204).end();
      } else if (!object) {
        res.writeHead(404).end('<Error><Code>NoSuchKey</Code></Error>');
      } else {
        const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
        if (range) {
          const start = Number(range[1]);
          const end = range[2] ? Number(range[2]) : object.body.length - 1;
          res.writeHead(206, {
            'content-type': object.contentType,
            'content-range': `bytes ${start}-${end}/${object.body.length}`,
            'content-length': String(end - start + 1),
          });
          res.end(object.body.subarray(start, end + 1));
        } else {
          res.writeHead(200, {
            'content-type': object.contentType,
            'content-length': String(object.body.length),
          });
          res.end(object.body);
        }
      }
    });
  });
  return {
    objects,
    requests,
    listen: () =>
      new Promise<string>((resolve) => {
        server.listen(0, '127.0.0.1', () => {
          resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
        });
      }),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe('media in an S3-compatible store', () => {
  const s3 = startS3StandIn('verity-media', 'TESTKEY');
  let endpoint = '';
  beforeAll(async () => {
    endpoint = await s3.listen();
  });
  afterAll(() => s3.close());
  const verity = useVerity({
    env: {
      PUBLIC_URL: publicUrl,
      MEDIA_STORE: 's3',
      MEDIA_S3_BUCKET: 'verity-media',
      get MEDIA_S3_ENDPOINT() {
        return endpoint;
      },
      MEDIA_S3_ACCESS_KEY_ID: 'TESTKEY',
      MEDIA_S3_SECRET_ACCESS_KEY: 'test-secret-key',
    },
  });
  const local = (url: string) => {
    const given = new URL(url);
    return new URL(`${given.pathname}${given.search}`, verity.url).toString();
  };

  it('stores the file and its thumbnail in the bucket, signed, and serves them from it', async () => {
    const author = await verity.signUp();
    const ticket = await verity.gql(
      createUpload,
      { input: { kind: 'IMAGE' } },
      { token: author.token },
    );
    const { uploadUrl, mediaId } = ticket.data!['createMediaUpload'];
    const response = await fetch(local(uploadUrl), {
      method: 'PUT',
      body: await pngWithMetadata(640, 480),
    });
    expect(response.status).toBe(201);
    const descriptor = (await response.json()) as { url: string; thumbnailUrl: string };
    expect([...s3.objects.keys()].sort()).toEqual(
      [descriptor.url, descriptor.thumbnailUrl].map((url) => url.split('/').pop()).sort(),
    );
    expect(s3.requests.filter((request) => request.startsWith('PUT '))).toHaveLength(2);

    const posted = await verity.gql(
      postWithMedia,
      { input: { text: 'from the bucket', media: [{ id: mediaId, altText: 'grey' }] } },
      { token: author.token },
    );
    expect(posted.errors).toBeUndefined();
    const file = await fetch(local(descriptor.url));
    expect(file.status).toBe(200);
    expect(file.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(file.headers.get('content-type')).toBe('image/png');
    const served = Buffer.from(await file.arrayBuffer());
    const stored = s3.objects.get(descriptor.url.split('/').pop()!)!;
    expect(served.equals(stored.body)).toBe(true);
    expect(stored.contentType).toBe('image/png');
    expect((await sharp(served).metadata()).exif).toBeUndefined();

    const part = await fetch(local(descriptor.url), { headers: { range: 'bytes=0-7' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(stored.body.subarray(0, 8))).toBe(true);
    const missing = `${publicUrl}/media/0123456789abcdef01234567-0123456789abcdef.png`;
    expect((await fetch(local(missing))).status).toBe(404);
  });

  it('deletes what it wrote to the bucket when the upload fails after writing', async () => {
    const author = await verity.signUp();
    const objectsBefore = [...s3.objects.keys()].sort();
    // The record's insert is refused (its id is taken): the files written just before go.
    const ticket = await verity.gql(
      createUpload,
      { input: { kind: 'IMAGE' } },
      { token: author.token },
    );
    const { uploadUrl, mediaId } = ticket.data!['createMediaUpload'];
    await verity.app.internals.models.Media.collection.insertOne({
      _id: new Types.ObjectId(Buffer.from(mediaId, 'base64url').toString('utf8').split(':')[1]),
      ownerId: new Types.ObjectId(),
      kind: 'IMAGE',
      contentType: 'image/png',
      byteSize: 1,
      file: 'placeholder.png',
      thumbnailFile: null,
      width: 1,
      height: 1,
      createdAt: new Date(),
    });
    const response = await fetch(local(uploadUrl), {
      method: 'PUT',
      body: await pngWithMetadata(32, 32),
    });
    expect(response.status).toBe(409);
    expect([...s3.objects.keys()].sort()).toEqual(objectsBefore);
    expect(s3.requests.filter((request) => request.startsWith('DELETE '))).toHaveLength(2);
  });
});
