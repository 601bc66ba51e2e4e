import { CloseCode } from 'graphql-ws';
import { ErrorCode } from '../../src/lib/errors.js';
import { VerityCloseCode } from '../../src/transport/ws.js';

/**
 * What must never reach a client, whatever it sent: stack frames, source or dependency paths,
 * JavaScript error names and messages, and MongoDB or Redis text. Fuzzed inputs are generated
 * without these words, so a match is the server's own text (GraphQL errors echo inputs).
 */
export const internalText = new RegExp(
  [
    String.raw`\n\s+at \S`,
    String.raw`\bat (?:async )?[\w$.<>]+ \([^)]*:\d+:\d+\)`,
    String.raw`/src/`,
    'node_modules',
    String.raw`\.[cm]?[jt]s:\d+`,
    String.raw`\b(?:Type|Reference|Range|Syntax|Eval|URI|Aggregate)Error\b`,
    'Cannot read propert',
    'Cannot set propert',
    String.raw`is not a function`,
    String.raw`is not iterable`,
    String.raw`undefined is not`,
    String.raw`Maximum call stack`,
    String.raw`\bMongo[A-Z]\w*`,
    'mongoose',
    String.raw`\bE11000\b`,
    'BSON',
    String.raw`\bCastError\b`,
    'Cast to ',
    String.raw`\bioredis\b`,
    String.raw`\bReplyError\b`,
    String.raw`\bWRONGTYPE\b`,
    String.raw`\bERR (?:wrong|syntax|unknown)`,
    String.raw`\bECONN(?:REFUSED|RESET)\b`,
    'FerretDB',
    'Internal server error',
  ].join('|'),
);

/** The first internal text in `text`, if any. */
export const internalTextIn = (text: string): string | undefined => internalText.exec(text)?.[0];

/**
 * The codes a client's mistake may be answered with: Verity's (src/lib/errors.ts) but
 * INTERNAL_SERVER_ERROR, and Apollo Server's request-level ones (src/graphql/errors.ts).
 */
export const clientErrorCodes: ReadonlySet<string> = new Set([
  ...Object.values(ErrorCode).filter((code) => code !== ErrorCode.INTERNAL_SERVER_ERROR),
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

/**
 * How a WebSocket may be closed for a client's mistake: by `ws` for a malformed frame (1002
 * protocol error, 1007 invalid UTF-8, 1009 too large), by graphql-ws's protocol (4400, 4401,
 * 4403, 4406, 4408, 4409, 4429) and by Verity (4440, 4441 for a refused session). 4500 (and
 * 1011) would be an internal error; 1013 and 1001 mean a service down or a shutdown, neither
 * expected while fuzzing.
 */
export const clientCloseCodes: ReadonlySet<number> = new Set([
  1000,
  1002,
  1007,
  1009,
  CloseCode.BadRequest,
  CloseCode.Unauthorized,
  CloseCode.Forbidden,
  CloseCode.SubprotocolNotAcceptable,
  CloseCode.ConnectionInitialisationTimeout,
  CloseCode.SubscriberAlreadyExists,
  CloseCode.TooManyInitialisationRequests,
  VerityCloseCode.SessionExpired,
  VerityCloseCode.SessionRevoked,
]);

interface ErrorLike {
  message?: unknown;
  extensions?: { code?: unknown } | null;
}

/** What is wrong with a list of GraphQL errors a client received. */
export function errorProblems(errors: unknown, tally?: Tally): string[] {
  if (!Array.isArray(errors)) return [`errors is not a list: ${short(errors)}`];
  const problems: string[] = [];
  for (const error of errors as ErrorLike[]) {
    const code = error?.extensions?.code;
    tally?.add('error codes', typeof code === 'string' ? code : `(none: ${short(error)})`);
    if (typeof error?.message !== 'string') problems.push(`an error without a message`);
    if (typeof code !== 'string' || !clientErrorCodes.has(code)) {
      problems.push(`error code ${short(code)}: ${short(error)}`);
    }
  }
  return problems;
}

/** A value, briefly, for a report. */
export const short = (value: unknown, length = 300): string => {
  let text: string;
  try {
    text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > length ? `${text.slice(0, length)}… (${text.length} chars)` : text;
};

/** Counts by category and label, printed at the end of a run. */
export class Tally {
  readonly #counts = new Map<string, Map<string, number>>();

  add(category: string, label: string | number, by = 1): void {
    let counts = this.#counts.get(category);
    if (!counts) this.#counts.set(category, (counts = new Map()));
    const key = String(label);
    counts.set(key, (counts.get(key) ?? 0) + by);
  }

  get(category: string, label: string | number): number {
    return this.#counts.get(category)?.get(String(label)) ?? 0;
  }

  total(category: string): number {
    let sum = 0;
    for (const count of this.#counts.get(category)?.values() ?? []) sum += count;
    return sum;
  }

  toString(): string {
    const lines: string[] = [];
    for (const [category, counts] of this.#counts) {
      const entries = [...counts].sort((a, b) => b[1] - a[1]);
      lines.push(`${category} (${this.total(category)}):`);
      for (const [label, count] of entries) lines.push(`  ${String(count).padStart(6)}  ${label}`);
    }
    return lines.join('\n');
  }
}
