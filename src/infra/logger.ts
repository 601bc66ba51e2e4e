import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; `level: 'silent'` turns them off (tests). */
export function createLogger(options: { level: string; name?: string }): Logger {
  return pino({
    name: options.name ?? 'verity',
    level: options.level,
    redact: {
      paths: ['req.headers.authorization', '*.password', '*.token', 'connectionParams'],
      censor: '[redacted]',
    },
  });
}
