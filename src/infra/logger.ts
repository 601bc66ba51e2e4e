import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs, on stdout unless `destination` says otherwise (tests read them there);
 * `level: 'silent'` turns them off. Everything logged while serving a request goes through a
 * child carrying its `requestId` (transport/http.ts, transport/ws.ts).
 */
export function createLogger(options: {
  level: string;
  name?: string;
  destination?: DestinationStream;
}): Logger {
  const settings = {
    name: options.name ?? 'verity',
    level: options.level,
    redact: {
      paths: ['req.headers.authorization', '*.password', '*.token', 'connectionParams'],
      censor: '[redacted]',
    },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
