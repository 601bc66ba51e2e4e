import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { writeTextMessage } from '../src/transport/ws-adapter.js';

/**
 * The live hub writes its frames under `ws` (writeTextMessage): each must reach a standard
 * client as exactly the text it was given, at every length encoding (7-bit, 16-bit, 64-bit),
 * in order with the frames `ws` writes itself, and not at all once the socket is closing. With
 * an extension negotiated (Verity negotiates none) they go through `ws`, which may hold frames
 * back to compress them.
 */
describe('frames written under ws', () => {
  let server: WebSocketServer;
  let url: string;

  beforeAll(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const socket of server.clients) socket.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  /** A connected pair: the server's socket and stream, and what the client receives. */
  async function connect() {
    const accepted = new Promise<{ socket: WebSocket; stream: Duplex }>((resolve) =>
      server.once('connection', (socket, request) => resolve({ socket, stream: request.socket })),
    );
    const client = new WebSocket(url);
    const received: { text: string; binary: boolean }[] = [];
    client.on('message', (data: Buffer, binary) =>
      received.push({ text: data.toString(), binary }),
    );
    await new Promise((resolve) => client.once('open', resolve));
    return { client, received, ...(await accepted) };
  }

  const until = async (check: () => boolean) => {
    const deadline = Date.now() + 5_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };

  it('arrive whole, as text, at every length and in order with ws frames', async () => {
    const { client, received, socket, stream } = await connect();
    const expected: string[] = [];
    // 0 and 125 bytes (7-bit), 126 and 65,535 (16-bit), 65,536 and 200,001 (64-bit).
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 200_001]) {
      const text = 'é'.repeat(Math.floor(length / 2)) + 'x'.repeat(length % 2);
      const bytes = Buffer.from(text);
      // Cut between the bytes of a character: the parts are joined, not decoded one by one.
      const first = Math.min(Math.floor(bytes.length / 3) + 1, bytes.length);
      const last = Math.max(first, bytes.length - 1);
      writeTextMessage(socket, stream, [
        bytes.subarray(0, first),
        bytes.subarray(first, last),
        bytes.subarray(last),
      ]);
      expected.push(text);
      socket.send(`ws:${length}`);
      expected.push(`ws:${length}`);
    }
    // Text parts are written as UTF-8, next to byte parts.
    writeTextMessage(socket, stream, ['{"ü":"', Buffer.from('€'.repeat(70)), '"}']);
    expected.push(`{"ü":"${'€'.repeat(70)}"}`);
    await until(() => received.length === expected.length);
    expect(received.map((message) => message.text)).toEqual(expected);
    expect(received.every((message) => !message.binary)).toBe(true);
    client.close();
  });

  it('go through ws itself when an extension was negotiated (permessage-deflate)', async () => {
    const deflating = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
    await new Promise((resolve) => deflating.once('listening', resolve));
    try {
      const accepted = new Promise<{ socket: WebSocket; stream: Duplex }>((resolve) =>
        deflating.once('connection', (socket, request) =>
          resolve({ socket, stream: request.socket }),
        ),
      );
      const client = new WebSocket(`ws://127.0.0.1:${(deflating.address() as AddressInfo).port}`, {
        perMessageDeflate: true,
      });
      const received: string[] = [];
      client.on('message', (data: Buffer) => received.push(data.toString()));
      await new Promise((resolve) => client.once('open', resolve));
      const { socket, stream } = await accepted;
      expect(socket.extensions).toBe('permessage-deflate');
      // ws compresses `before` asynchronously, holding later frames back meanwhile: a frame
      // written under it would overtake it.
      const before = 'compressible '.repeat(200);
      socket.send(before);
      writeTextMessage(socket, stream, [Buffer.from('writ'), Buffer.from('ten')]);
      await until(() => received.length === 2);
      expect(received).toEqual([before, 'written']);
      client.close();
    } finally {
      for (const socket of deflating.clients) socket.terminate();
      await new Promise((resolve) => deflating.close(resolve));
    }
  });

  it('are dropped once the close handshake has begun', async () => {
    const { client, received, socket, stream } = await connect();
    writeTextMessage(socket, stream, [Buffer.from('before')]);
    const closed = new Promise<number>((resolve) => client.once('close', resolve));
    socket.close(4000, 'done');
    writeTextMessage(socket, stream, [Buffer.from('after')]);
    expect(await closed).toBe(4000);
    expect(received.map((message) => message.text)).toEqual(['before']);
  });
});
