/** Truth Social's limit, counted in Unicode code points (an emoji is one character). */
export const maxTruthLength = 1_000;

const hashtagPattern = /(?:^|[^\p{L}\p{N}_&/])#([\p{L}\p{N}_]{1,100})/gu;
const mentionPattern = /(?:^|[^\p{L}\p{N}_@/])@([A-Za-z0-9_]{3,30})\b/gu;

/** Text length in code points. */
export const textLength = (text: string) => [...text].length;

/**
 * Hashtags in order of first appearance, lower-cased, without '#'. A tag needs at least one
 * letter (so "#1" is not one) and at most ten are kept.
 */
export function parseHashtags(text: string): string[] {
  const tags = new Set<string>();
  for (const match of text.matchAll(hashtagPattern)) {
    const tag = match[1]!.normalize('NFC').toLowerCase();
    if (/\p{L}/u.test(tag)) tags.add(tag);
    if (tags.size === 10) break;
  }
  return [...tags];
}

/** Mentioned usernames (lower-cased, unique, at most ten), whether or not such users exist. */
export function parseMentions(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(mentionPattern)) {
    names.add(match[1]!.toLowerCase());
    if (names.size === 10) break;
  }
  return [...names];
}

/** A hashtag as clients may type it ("#Launch", "launch"): lower-cased, without '#'. */
export function normalizeHashtag(raw: string): string | null {
  const tag = raw.trim().replace(/^#/, '').normalize('NFC').toLowerCase();
  return /^[\p{L}\p{N}_]{1,100}$/u.test(tag) && /\p{L}/u.test(tag) ? tag : null;
}
