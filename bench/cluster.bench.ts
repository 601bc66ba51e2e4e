import { fanoutScenario } from './fanout.bench.js';
import { homeFeedScenario } from './home-feed.bench.js';
import { postFanoutScenario } from './post-fanout.bench.js';
import type { Row, Scenario } from './lib/report.js';
import { stoppedStacks, type MasterStats } from './lib/stack.js';

/** Rows whose figure is a time, a rate or a size that both runs measure the same way. */
const comparable = (row: Row) => !/setup|seeding|rebuilt|database|network/i.test(row.metric);

/**
 * Fan-out, home feed and post fan-out on a Redis Cluster (three masters, a replica each, all on
 * this machine) next to the same scenarios on one redis-server, in the same run: each cluster
 * figure's baseline is its single-Redis figure. Then how keys, memory and commands spread over
 * the three masters after each cluster scenario (read once its instances stopped).
 */
export const clusterScenario: Scenario = {
  name: 'cluster',
  description:
    'fan-out, home feed and post fan-out on a 3-master Redis Cluster vs one redis-server; spread over the masters',
  async run() {
    const rows: Row[] = [];
    const previous = process.env['BENCH_REDIS'];
    try {
      for (const scenario of [fanoutScenario, homeFeedScenario, postFanoutScenario]) {
        delete process.env['BENCH_REDIS'];
        const single = await scenario.run();
        process.env['BENCH_REDIS'] = 'cluster';
        const clustered = await scenario.run();
        const masters = stoppedStacks.at(-1)?.masters ?? [];
        for (const row of clustered) {
          const match = single.find((candidate) => candidate.metric === row.metric);
          if (!comparable(row) || !match) {
            rows.push({ ...row, metric: `${scenario.name}: ${row.metric} (cluster)` });
            continue;
          }
          rows.push({
            metric: `${scenario.name}: ${row.metric}`,
            value: row.value,
            unit: row.unit,
            baseline: 'one redis-server',
            baselineValue: match.value,
            note: row.baseline
              ? `cluster run's own baseline: ${row.baselineValue} ${row.unit} (${row.baseline})`
              : (row.note ?? ''),
          });
        }
        rows.push(...spreadRows(scenario.name, masters));
      }
    } finally {
      if (previous === undefined) delete process.env['BENCH_REDIS'];
      else process.env['BENCH_REDIS'] = previous;
    }
    return rows;
  },
};

/** Each master's share of keys, memory and commands, next to an even third. */
function spreadRows(scenario: string, masters: readonly MasterStats[]): Row[] {
  const total = (pick: (stats: MasterStats) => number) =>
    masters.reduce((sum, stats) => sum + pick(stats), 0);
  const keys = total((stats) => stats.keys);
  const commands = total((stats) => stats.commands);
  return masters.map((stats) => ({
    metric: `${scenario}: master ${stats.node}`,
    value: keys === 0 ? 0 : Math.round((1_000 * stats.keys) / keys) / 10,
    unit: '% of keys',
    note: `${stats.keys} keys, ${(stats.usedMemoryBytes / 2 ** 20).toFixed(1)} MiB, ${
      commands === 0 ? 0 : Math.round((100 * stats.commands) / commands)
    }% of ${commands} commands (an even share: 33.3%)`,
  }));
}
