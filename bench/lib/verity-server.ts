/**
 * A Verity instance in a process of its own, driven by its parent over IPC (bench/lib/stack.ts,
 * `startVerityProcess`): `start` with the app's options answers its URL, `work` what it has
 * done so far (bench-app.ts, `countWork`), `stop` stops it and exits.
 */
import type { VerityApp } from '../../src/app.js';
import { countWork, createBenchApp, type BenchAppOptions, type ProcessWork } from './bench-app.js';

type Message =
  | { id: number; type: 'start'; options: BenchAppOptions }
  | { id: number; type: 'work' }
  | { id: number; type: 'stop' };

let app: VerityApp | undefined;
let work: (() => ProcessWork) | undefined;

const reply = (id: number, value: unknown) =>
  new Promise<void>((resolve) => process.send!({ id, value }, () => resolve()));

process.on('message', (message: Message) => {
  void (async () => {
    if (message.type === 'start') {
      app = createBenchApp(message.options);
      const { url } = await app.start();
      work = countWork(app, { byKind: true, holds: true });
      await reply(message.id, url);
    } else if (message.type === 'work') {
      await reply(message.id, work?.());
    } else {
      await app?.stop();
      await reply(message.id, null);
      process.exit(0);
    }
  })().catch((error: unknown) => {
    console.error('the bench Verity process failed:', error);
    process.exit(1);
  });
});
// The parent went away: nothing left to serve.
process.on('disconnect', () => process.exit(0));
