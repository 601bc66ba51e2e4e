import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

/**
 * A CPU profile of this process over chosen stretches only (the measured events, not the
 * set-up), when BENCH_PROFILE names a file: `start()` and `stop()` around each stretch, `save()`
 * at the end writes one .cpuprofile (open it in Chrome DevTools). Does nothing otherwise.
 */
export async function createProfiler(label = '') {
  const file = process.env['BENCH_PROFILE'];
  if (!file) return { start: async () => {}, stop: async () => {}, save: async () => {} };
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  const profiles: { nodes: unknown[]; samples: number[]; timeDeltas: number[] }[] = [];
  return {
    start: () => session.post('Profiler.start'),
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      profiles.push(profile as never);
    },
    async save() {
      // Each stretch is its own profile (DevTools opens one at a time).
      for (const [i, profile] of profiles.entries())
        await writeFile(
          file.replace(/(\.cpuprofile)?$/, `${label}.${i}.cpuprofile`),
          JSON.stringify(profile),
        );
      console.log(`  CPU profiles of the measured stretches: ${file}.<n>.cpuprofile`);
      profiles.length = 0;
      session.disconnect();
    },
  };
}
