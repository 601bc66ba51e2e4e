import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode, handleProtocols, type Server } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { MessagePart } from '../graphql/live/live-hub.js';
import type { Logger } from '../infra/logger.js';

/** What the graphql-ws core sees of each connection besides the protocol itself. */
export interface SocketExtra {
  readonly socket: WebSocket;
  /** The connection's byte stream under `socket` (the upgrade request's socket). */
  readonly stream: Duplex;
}

/**
 * Writes one text message made of `parts` (bytes, or text written as UTF-8), in order, as a
 * single WebSocket frame in a single buffer and a single write to the connection's stream, when
 * the socket is open (like `ws`'s `send`, it drops a message once the close handshake has begun).
 *
 * `ws`'s own `send` frames a message as two writes (its header, then the caller's bytes, which
 * must already be one buffer), corked and flushed together; a live event's frame is the
 * subscriber's prefix, the shared payload and a closing brace, which would first be copied into
 * one buffer for it. Here the header and the parts are copied once, into the buffer that is
 * written. Writing under `ws` is safe because Verity's sockets negotiate no extension (no
 * permessage-deflate, so `ws` never holds frames back to compress them) and send no Blob: every
 * frame `ws` writes itself (graphql-ws's messages, pings, the close frame) is written whole and
 * at once, so frames never interleave, and `bufferedAmount` counts this stream's buffer too.
 */
export function writeTextMessage(
  socket: WebSocket,
  stream: Duplex,
  parts: readonly MessagePart[],
): void {
  if (socket.readyState !== socket.OPEN) return;
  if (socket.extensions !== '') {
    const bytes = parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part));
    socket.send(Buffer.concat(bytes), { binary: false });
    return;
  }
  let length = 0;
  for (const part of parts) length += Buffer.byteLength(part);
  const headerLength = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const message = Buffer.allocUnsafe(headerLength + length);
  message[0] = 0x81; // FIN, text
  if (length < 126) {
    message[1] = length;
  } else if (length < 0x10000) {
    message[1] = 126;
    message.writeUInt16BE(length, 2);
  } else {
    message[1] = 127;
    message.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    message.writeUInt32BE(length >>> 0, 6);
  }
  let offset = headerLength;
  for (const part of parts) {
    if (typeof part === 'string') offset += message.write(part, offset);
    else {
      message.set(part, offset);
      offset += part.length;
    }
  }
  stream.write(message);
}

/** The most a close frame's reason may hold, in UTF-8 bytes (RFC 6455; `ws` throws beyond it). */
const maxCloseReasonBytes = 123;

/**
 * `reason`, cut in the middle to fit a close frame: graphql-ws's core puts the client's
 * subscription id into one (4409 "Subscriber for <id> already exists"), and ids have no limit.
 */
function fitCloseReason(reason: string): string {
  if (Buffer.byteLength(reason) <= maxCloseReasonBytes) return reason;
  const characters = [...reason];
  const tail = characters.slice(-20).join('');
  let head = '';
  for (const character of characters) {
    if (Buffer.byteLength(`${head}${character}…${tail}`) > maxCloseReasonBytes) break;
    head += character;
  }
  return `${head}…${tail}`;
}

/**
 * graphql-ws's core parses the messages only a server sends (next, error, connection_ack) as
 * valid, then throws this for them: the client's protocol mistake, closed like any invalid
 * message (4400), not an internal error.
 */
const isServerOnlyMessage = (error: unknown) =>
  error instanceof Error && /^Unexpected message of type \S+ received$/.test(error.message);

/**
 * A message as graphql-ws's core takes it: parsed here, since the core accepts a parsed message
 * as well as its text, and holds what it was given for as long as the operation runs (a
 * subscription's whole life); the text is not needed past parsing. Text that is not JSON is
 * passed on as it is, for the core to refuse (4400).
 */
function parsedMessage(data: Buffer): unknown {
  const text = data.toString();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A `ws` socket as graphql-ws's core sees it; a class, so an idle socket holds no closures. */
class ProtocolSocket {
  readonly protocol: string;

  constructor(
    private readonly socket: WebSocket,
    private readonly logger: Logger,
  ) {
    this.protocol = socket.protocol;
  }

  send(data: string): Promise<void> {
    const { socket } = this;
    return new Promise<void>((resolve, reject) => {
      if (socket.readyState !== socket.OPEN) {
        resolve();
        return;
      }
      socket.send(data, (error) => (error ? reject(error) : resolve()));
    });
  }

  close(code: number, reason: string): void {
    this.socket.close(code, fitCloseReason(reason));
  }

  onMessage(handle: (data: string) => Promise<void>): void {
    const { socket, logger } = this;
    socket.on('message', (data: Buffer) => {
      // The core's type says text; it parses only text (its parseMessage).
      handle(parsedMessage(data) as string).catch((error: unknown) => {
        if (isServerOnlyMessage(error)) {
          socket.close(CloseCode.BadRequest, 'Invalid message received');
          return;
        }
        logger.error({ err: error }, 'WebSocket message handling failed');
        socket.close(CloseCode.InternalServerError, 'Internal server error');
      });
    });
  }
}

/**
 * Binds graphql-ws's transport-neutral protocol core (`makeServer`) to a `ws` server: the thin
 * adapter graphql-ws ships as `graphql-ws/use/ws`, rewritten so that socket errors go to
 * Verity's log (the stock adapter prints whole socket objects with console.error and may put
 * an internal message into a close reason), and to keep idle connections small: the upgrade
 * request is not retained, and one timer pings every socket instead of one timer per socket.
 *
 * Keep-alive: a ping every `keepAliveMs`; a socket that has not answered the previous ping by
 * the next one is terminated, so dead peers do not hold subscriptions.
 */
export function serveGraphQLOverWs<E extends SocketExtra>(options: {
  server: Server<E>;
  wsServer: WebSocketServer;
  keepAliveMs: number;
  logger: Logger;
  /**
   * What the core keeps for a connection; `request` (the upgrade) is not retained, its socket
   * (`stream`) is.
   */
  extra: (socket: WebSocket, request: IncomingMessage) => E;
}) {
  const { server, wsServer, keepAliveMs, logger } = options;
  wsServer.options.handleProtocols = handleProtocols;
  const unanswered = new WeakSet<WebSocket>();

  wsServer.on('error', (error) => logger.error({ err: error }, 'WebSocket server error'));

  const keepAlive = setInterval(() => {
    for (const socket of wsServer.clients) {
      if (unanswered.has(socket)) {
        socket.terminate();
        continue;
      }
      unanswered.add(socket);
      socket.ping();
    }
  }, keepAliveMs);
  keepAlive.unref();

  wsServer.on('connection', (socket, request) => {
    socket.on('error', onSocketError);
    socket.on('pong', onPong);
    const closed = server.opened(
      new ProtocolSocket(socket, logger),
      options.extra(socket, request),
    );
    socket.once('close', (code, reason) => void closed(code, reason.toString()));
  });

  function onPong(this: WebSocket) {
    unanswered.delete(this);
  }

  function onSocketError(error: Error & { code?: string }) {
    // ws has already closed the socket with the right code (1009 for an oversized message).
    logger.debug({ err: error.message, code: error.code }, 'WebSocket error');
  }

  return {
    /** Closes every connection with 1001 (going away) and stops the ws server. */
    async dispose() {
      clearInterval(keepAlive);
      for (const client of wsServer.clients) client.close(1001, 'Going away');
      await new Promise<void>((resolve, reject) => {
        wsServer.close((error) => (error ? reject(error) : resolve()));
      });
    },
  };
}
