import { AsyncLocalStorage } from 'node:async_hooks';
import { ErrorCode, VerityError, retryAfterSeconds } from './errors.js';

/**
 * The time a request has to answer (REQUEST_TIMEOUT_MS), and what it wrote meanwhile. The
 * transports give each HTTP request and WebSocket query or mutation one (`withRequestBudget`)
 * and answer a retryable UNAVAILABLE when it runs out, whatever the request is still waiting
 * for. Everything the request starts sees it (`currentBudget`), so that:
 * - waits that could outlast it (a MongoDB insert retried until it lands) stop in time, and
 *   no new write is sent for a request that was already answered;
 * - that answer can tell the truth: a write handed to MongoDB before it ran out may still be
 *   stored, so the answer says its outcome is unknown (`wrote`).
 * Work that outlives its request on purpose (a write's effects, retried until they succeed)
 * runs outside it (`outsideRequestBudget`).
 */
export interface RequestBudget {
  /** When the answer is due, in ms since the epoch. */
  readonly deadlineAt: number;
  /** The request was answered as timed out: nothing more may be written for it. */
  expired: boolean;
  /** A write was handed to MongoDB for this request (it may be stored). */
  wrote: boolean;
}

const budgets = new AsyncLocalStorage<RequestBudget>();

/** Runs `serve` (and everything it starts) with a budget of `timeoutMs`. */
export function withRequestBudget<T>(timeoutMs: number, serve: (budget: RequestBudget) => T): T {
  const budget: RequestBudget = {
    deadlineAt: Date.now() + timeoutMs,
    expired: false,
    wrote: false,
  };
  return budgets.run(budget, () => serve(budget));
}

/** The budget of the request being served, if any. */
export const currentBudget = (): RequestBudget | undefined => budgets.getStore();

/** Runs `work` (and everything it starts) as part of no request: it may outlive one. */
export const outsideRequestBudget = <T>(work: () => T): T => budgets.exit(work);

/**
 * Races `answer` against the budget's deadline: resolves with `answer`'s value, or with
 * `timedOut()` once the deadline passes (the budget is then expired). `answer` goes on in the
 * background; what it resolves with then is dropped.
 */
export async function answerWithin<T>(
  budget: RequestBudget,
  answer: Promise<T>,
  timedOut: () => T,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(
      () => {
        budget.expired = true;
        resolve(timedOut());
      },
      Math.max(0, budget.deadlineAt - Date.now()),
    );
  });
  try {
    return await Promise.race([answer, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What a request answered as timed out is told: a retryable UNAVAILABLE, with
 * `outcome: "UNKNOWN"` when it had handed a write to MongoDB (it may be stored; retrying with
 * the same idempotency key is safe).
 */
export function requestTimedOut(budget: RequestBudget): VerityError {
  return budget.wrote
    ? new VerityError(
        ErrorCode.UNAVAILABLE,
        'Verity could not confirm in time whether this change was saved. Check, or retry it (with the same idempotency key).',
        { retryable: true, retryAfter: retryAfterSeconds, retryAfterSeconds, outcome: 'UNKNOWN' },
      )
    : new VerityError(
        ErrorCode.UNAVAILABLE,
        'Verity did not answer in time. Please retry in a moment.',
        { retryable: true, retryAfter: retryAfterSeconds, retryAfterSeconds },
      );
}
