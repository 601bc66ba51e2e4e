import { badUserInput, validateTogether } from '../../lib/errors.js';
import { maxMediaPerTruth, type MediaToAttach } from '../media/index.js';
import { maxTruthLength, textLength } from './truth.text.js';

/** A new truth as a client sends it, its related truths named by whatever IDs it uses. */
export interface TruthInput {
  text: string;
  replyToId?: string | null | undefined;
  quoteOfId?: string | null | undefined;
  idempotencyKey?: string | null | undefined;
  /** Uploaded files to attach, by media id (ObjectId hex), in order. */
  media?: readonly MediaToAttach[] | null | undefined;
}

/** A new truth, validated: trimmed text, related truths as ObjectId hex. */
export interface NewTruth {
  text: string;
  /** ObjectId hex of the truth replied to. */
  replyToId: string | null;
  /** ObjectId hex of the truth quoted. */
  quoteOfId: string | null;
  idempotencyKey: string | null;
  media: readonly MediaToAttach[];
}

function validateText(raw: string, hasMedia: boolean): string {
  const text = raw.trim();
  if (text.length === 0 && !hasMedia) {
    throw badUserInput('A truth needs some text.', 'text');
  }
  if (textLength(text) > maxTruthLength) {
    throw badUserInput(`A truth is at most ${maxTruthLength} characters.`, 'text');
  }
  return text;
}

function validateIdempotencyKey(key: string | null): string | null {
  if (key !== null && (key.length < 1 || key.length > 100)) {
    throw badUserInput('An idempotency key is 1 to 100 characters.', 'idempotencyKey');
  }
  return key;
}

const isGiven = (id: string | null | undefined): id is string => id !== undefined && id !== null;

/**
 * A new truth's input with every rule checked together: one BAD_USER_INPUT names each field
 * that breaks one. `truthId` turns the ID of a related truth into its ObjectId hex or throws
 * BAD_USER_INPUT naming the field (resolvers pass the global-ID decoder; the service, whose
 * input is decoded already, keeps the default).
 */
export function validateNewTruth(
  input: TruthInput,
  truthId: (id: string, field: 'replyToId' | 'quoteOfId') => string = (id) => id,
): NewTruth {
  const media = input.media ?? [];
  const [text, replyToId, quoteOfId, idempotencyKey] = validateTogether(
    () => validateText(input.text, media.length > 0),
    // An empty ID is no truth's, as any other malformed one: refused, not read as "none".
    () => (isGiven(input.replyToId) ? truthId(input.replyToId, 'replyToId') : null),
    () => {
      if (!isGiven(input.quoteOfId)) return null;
      if (isGiven(input.replyToId)) {
        throw badUserInput('A truth can reply to one truth or quote one, not both.', 'quoteOfId');
      }
      return truthId(input.quoteOfId, 'quoteOfId');
    },
    () => validateIdempotencyKey(input.idempotencyKey ?? null),
    () => {
      if (media.length > maxMediaPerTruth) {
        throw badUserInput(`A truth carries at most ${maxMediaPerTruth} media files.`, 'media');
      }
    },
  );
  return { text, replyToId, quoteOfId, idempotencyKey, media };
}
