import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * The request being served, for every line logged while serving it, by any module: services
 * log with their own loggers, which know nothing of requests. The transports enter it
 * (`enterRequest`) when a request or WebSocket operation starts.
 */
const requestScope = new AsyncLocalStorage<{ readonly requestId: string }>();

/** Runs `serve` (and everything it starts) as part of the request `requestId`. */
export const inRequest = <T>(requestId: string, serve: () => T): T =>
  requestScope.run({ requestId }, serve);

/** The rest of the current task, and everything it starts, is part of request `requestId`. */
export const enterRequest = (requestId: string): void => requestScope.enterWith({ requestId });

/**
 * Structured JSON logs, on stdout unless `destination` says otherwise (tests read them there);
 * `level: 'silent'` turns them off. Every line logged while serving a request carries its
 * `requestId`: from the transports' own child loggers (transport/http.ts, transport/ws.ts), and
 * for any other logger from the request scope above.
 */
export function createLogger(options: {
  level: string;
  name?: string;
  destination?: DestinationStream;
}): Logger {
  const settings = {
    name: options.name ?? 'verity',
    level: options.level,
    mixin: (_line: object, _level: number, logger: Logger) => {
      const request = requestScope.getStore();
      if (!request || 'requestId' in logger.bindings()) return {};
      return { requestId: request.requestId };
    },
    redact: {
      paths: ['req.headers.authorization', '*.password', '*.token', 'connectionParams'],
      censor: '[redacted]',
    },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
