import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql 16 has no "exports" map: Vite would give our sources its ESM build while Node
    // gives Apollo Server the CommonJS one, and two GraphQLError classes break `instanceof`.
    // Node (and so `npm start`) always picks the CommonJS build; tests must see the same.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // Faults and timings are the suite's business; a flaky retry would hide a real race.
    retry: 0,
  },
});
