import os from 'node:os';
import { configDefaults, defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

/**
 * Files that time a recovery under load (the fault drills) or start and break a Redis Cluster
 * of their own: they run after the rest, one at a time, with the machine to themselves.
 */
const alone = [
  'test/drills.test.ts',
  'test/cluster-failover.test.ts',
  'test/redis-cluster.test.ts',
];

const resolve = {
  // graphql 16 has no "exports" map: Vite would give our sources its ESM build while Node
  // gives Apollo Server the CommonJS one, and two GraphQLError classes break `instanceof`.
  // Node (and so `npm start`) always picks the CommonJS build; tests must see the same.
  alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
};

/**
 * A project of the run. The projects do not extend the root config: they would inherit its
 * global setup and each start FerretDB and Redis again; the root's setup runs once and every
 * project sees what it provides.
 */
const project = (test: TestProjectInlineConfiguration['test']): TestProjectInlineConfiguration => ({
  resolve,
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Faults and timings are the suite's business; a flaky retry would hide a real race.
    retry: 0,
    ...test,
  },
});

export default defineConfig({
  resolve,
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    teardownTimeout: 30_000,
    projects: [
      project({
        name: 'suite',
        include: ['test/**/*.test.ts'],
        exclude: [...configDefaults.exclude, ...alone],
        // Each file isolates itself (its own database and Redis namespace) and spends most of
        // its time waiting on servers: two at a time even on two cores, where vitest's default
        // is one.
        maxWorkers: Math.max(2, os.availableParallelism() - 1),
      }),
      project({
        name: 'alone',
        include: alone,
        maxWorkers: 1,
        sequence: { groupOrder: 1 },
      }),
    ],
  },
});
