/**
 * Builds the live demo web client (web/, with the client kit in examples/client-kit) into
 * web/dist with Vite, or does nothing when web/dist holds a build of the current sources: the
 * stamp `web/dist/.build-stamp` is a hash of every source file and of the versions of the
 * packages bundled. `npm start` and `npm test` run it first (prestart, pretest), so the demo
 * Verity serves at `/` is always there and current. Build output is never committed.
 *
 * Skipped, with a note, when the demo is switched off (WEB_DEMO=false, or GRAPHQL_IDE=false
 * with WEB_DEMO unset) or when Vite is not installed (`npm ci --omit=dev`).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { webBuildDirectory } from '../src/transport/web.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const webDirectory = path.join(root, 'web');
const sources = [webDirectory, path.join(root, 'examples', 'client-kit', 'src')];
const bundled = ['vite', '@apollo/client', 'graphql', 'graphql-ws', 'rxjs'];
const stampName = '.build-stamp';

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true });
  const files = await Promise.all(
    entries.map(async (entry) => {
      const full = path.join(directory, entry.name);
      if (entry.isDirectory()) {
        return entry.name === 'dist' || entry.name.startsWith('.') ? [] : filesUnder(full);
      }
      return [full];
    }),
  );
  return files.flat().sort();
}

/** A hash of what the build reads: sources, this script, and the bundled packages' versions. */
async function sourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const files = [
    fileURLToPath(import.meta.url),
    ...(await Promise.all(sources.map(filesUnder))).flat(),
  ];
  for (const file of files) {
    hash
      .update(path.relative(root, file))
      .update('\0')
      .update(await readFile(file))
      .update('\0');
  }
  for (const name of bundled) {
    const manifest = path.join(root, 'node_modules', name, 'package.json');
    const { version } = JSON.parse(await readFile(manifest, 'utf8')) as { version: string };
    hash.update(`${name}@${version}\0`);
  }
  return hash.digest('hex');
}

/**
 * Makes sure web/dist holds a build of the current sources; returns whether it built. Safe to
 * run from several processes at once: each builds into a directory of its own and swaps it in.
 */
export async function ensureWebBuild(options: { quiet?: boolean } = {}): Promise<boolean> {
  const hash = await sourceHash();
  const stamp = path.join(webBuildDirectory, stampName);
  const isCurrent = async () =>
    existsSync(stamp) && (await readFile(stamp, 'utf8').catch(() => '')).trim() === hash;
  if (await isCurrent()) return false;

  const { build } = await import('vite');
  const staging = path.join(webDirectory, `.dist-${process.pid}-${Date.now()}`);
  await mkdir(staging, { recursive: true });
  try {
    await build({
      root: webDirectory,
      configFile: false,
      base: '/',
      logLevel: options.quiet ? 'warn' : 'info',
      build: { outDir: staging, emptyOutDir: true, target: 'es2022', sourcemap: true },
    });
    await writeFile(path.join(staging, stampName), `${hash}\n`);
    const previous = `${staging}-old`;
    try {
      if (existsSync(webBuildDirectory)) await rename(webBuildDirectory, previous);
      await rename(staging, webBuildDirectory);
    } catch (error) {
      // Another process swapped its build in meanwhile: as good, if of the same sources.
      if (!(await isCurrent())) throw error;
    }
    await rm(previous, { recursive: true, force: true });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return true;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const { loadConfig } = await import('../src/config.js');
  if (!loadConfig().web.demo) {
    console.log('The demo web client is switched off (WEB_DEMO): not building it.');
  } else if (!existsSync(path.join(root, 'node_modules', 'vite'))) {
    console.log(
      'Vite is not installed (dev dependencies omitted): the demo web client is not built.',
    );
  } else {
    const built = await ensureWebBuild();
    console.log(
      built
        ? `Built the demo web client into ${webBuildDirectory}`
        : 'The demo web client is up to date.',
    );
  }
}
