import { describe, expect, it } from 'vitest';
import { createDocumentCache } from '../src/graphql/document-cache.js';
import { limitRules } from '../src/graphql/limits.js';
import { createSchema } from '../src/graphql/schema.js';

describe('the WebSocket document cache', () => {
  const schema = createSchema();
  const rules = limitRules({ maxDepth: 12, maxAliases: 30, maxTokens: 3_000 });

  it('parses and validates a document once, and remembers failures too', () => {
    const cache = createDocumentCache({ schema, rules, maxTokens: 3_000 });
    const first = cache.prepare('{ me { id } }');
    expect(first.ok).toBe(true);
    expect(cache.prepare('{ me { id } }')).toBe(first);
    const invalid = cache.prepare('{ me { nope } }');
    expect(invalid.ok).toBe(false);
    expect(cache.prepare('{ me { nope } }')).toBe(invalid);
    expect(cache.size).toBe(2);
  });

  it('refuses @skip and @include on a subscription’s root field instead of throwing', () => {
    const cache = createDocumentCache({ schema, rules, maxTokens: 3_000 });
    for (const source of [
      'subscription { publicFeedUpdated @skip(if: true) { __typename } }',
      'subscription { publicFeedUpdated @skip { __typename } }',
      'subscription($b: Boolean!) { publicFeedUpdated @include(if: $b) { __typename } }',
      'subscription { ... on Subscription @include(if: false) { publicFeedUpdated { __typename } } }',
      'subscription { ...F } fragment F on Subscription { publicFeedUpdated @skip(if: true) { __typename } }',
    ]) {
      const prepared = cache.prepare(source);
      expect(prepared.ok, source).toBe(false);
      const errors = prepared.ok ? [] : prepared.errors;
      expect(
        errors.map((error) => error.extensions['code']),
        source,
      ).toContain('GRAPHQL_VALIDATION_FAILED');
      expect(errors.map((error) => error.message).join(' '), source).toMatch(
        /root field may not use @(skip|include)/,
      );
    }
    expect(
      cache.prepare(
        'subscription { publicFeedUpdated { ... on TruthPosted @skip(if: true) { cursor } __typename } }',
      ).ok,
    ).toBe(true);
  });

  it('stays within its size bound, evicting the least recently used', () => {
    const cache = createDocumentCache({ schema, rules, maxTokens: 3_000, maxSourceBytes: 200 });
    const sources = Array.from({ length: 50 }, (_, i) => `query Q${i} { me { id username } }`);
    for (const source of sources) cache.prepare(source);
    const total = sources.reduce((sum, source) => sum + source.length, 0);
    expect(total).toBeGreaterThan(200);
    expect(cache.size).toBeLessThan(sources.length);
    expect(cache.size * sources[0]!.length).toBeLessThanOrEqual(200 + sources[0]!.length);
  });
});
