/**
 * `npm run bench [scenario ...]`: runs the named benchmark scenarios (all by default), prints
 * each figure next to its baseline from the same run, and writes bench/results/<name>.json.
 * Sizes scale down with environment variables (see README, "Benchmarks").
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { capacityScenario } from './capacity.bench.js';
import { clusterScenario } from './cluster.bench.js';
import { dbWritesScenario } from './db-writes.bench.js';
import { fanoutScenario } from './fanout.bench.js';
import { homeFeedScenario } from './home-feed.bench.js';
import { livePersonalScenario } from './live-personal.bench.js';
import { postFanoutScenario } from './post-fanout.bench.js';
import { redisPagesScenario } from './redis-pages.bench.js';
import { renderTable, type Scenario } from './lib/report.js';
import { scaleScenario } from './scale.bench.js';
import { waitlistScenario } from './waitlist.bench.js';

const scenarios: Scenario[] = [
  fanoutScenario,
  livePersonalScenario,
  homeFeedScenario,
  postFanoutScenario,
  waitlistScenario,
  scaleScenario,
  capacityScenario,
  clusterScenario,
  redisPagesScenario,
  dbWritesScenario,
];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !scenarios.some((scenario) => scenario.name === name));
if (unknown.length > 0) {
  console.error(
    `unknown scenario(s): ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`,
  );
  process.exit(2);
}
if (!(globalThis as { gc?: unknown }).gc)
  console.warn('run with node --expose-gc for heap figures (npm run bench does)');

const resultsDir = new URL('./results/', import.meta.url);
await mkdir(resultsDir, { recursive: true });
for (const scenario of scenarios.filter((s) => wanted.length === 0 || wanted.includes(s.name))) {
  console.log(`\nrunning ${scenario.name}: ${scenario.description}`);
  const startedAt = new Date();
  const rows = await scenario.run();
  console.log(renderTable(scenario.name, rows));
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadAverage: os.loadavg(),
  };
  await writeFile(
    new URL(`${scenario.name}.json`, resultsDir),
    `${JSON.stringify({ scenario: scenario.name, startedAt, machine, rows }, null, 2)}\n`,
  );
}
process.exit(0);
