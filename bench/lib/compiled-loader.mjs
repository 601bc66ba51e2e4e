/**
 * Runs the benchmarks' TypeScript as `tsc` compiles it for production (`npm run build`):
 * each file is transpiled by TypeScript itself, once, when it is first imported.
 *
 * The test runner and `npm start` load TypeScript through tsx, whose esbuild transform keeps
 * function names by wrapping every named function in a helper that redefines its `name`. That
 * costs a call and a dictionary of properties (about 250 bytes) for every closure created at
 * run time, which production code never pays; measured through tsx, an idle subscription looked
 * 2 KB heavier than it is. Used as `node --import ./bench/lib/compiled-loader.mjs`.
 */
import { register } from 'node:module';

register('./compiled-loader-hooks.mjs', import.meta.url);
