import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import {
  access,
  chmod,
  constants,
  cp,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Logger } from '../logger.js';
import { spawnManaged, type ManagedProcess } from './managed-process.js';

const execFileAsync = promisify(execFile);

/** `tools/ferretdb`: the Go module that builds Verity's embedded MongoDB. */
export const ferretdbModuleDir = fileURLToPath(
  new URL('../../../tools/ferretdb/', import.meta.url),
);

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The FerretDB module, and its files that Verity builds in place of the released ones, each
 * with the SHA-256 of the released file it was made from: a FerretDB upgrade whose file differs
 * stops the build instead of building Verity's copy over code it has not seen.
 */
const ferretdbModule = 'github.com/FerretDB/FerretDB';
const ferretdbOverlay = [
  {
    file: 'internal/util/fsql/db.go',
    released: 'e2f41698e31936d22764ac57403181cce666072751846454401558017db8068f',
  },
];
/** How Go runs here: in tools/ferretdb, never fetching another toolchain or editing go.mod/go.sum. */
const goOptions = {
  cwd: ferretdbModuleDir,
  env: { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
  maxBuffer: 16 * 1024 * 1024,
};

/**
 * Returns the path of a FerretDB binary built from `tools/ferretdb`, building it with the Go
 * module proxy only when the cache has none for the current sources. The cache entry is keyed by
 * a hash of go.mod, go.sum, main.go and the overlay files, so a second start never rebuilds and a
 * version bump always does. Concurrent callers are safe: each builds to a unique file and renames
 * it in place.
 *
 * The build takes FerretDB's module as released, with each file of `tools/ferretdb/_overlay`
 * in place of the module's file at the same path (the one there: SQLite writes in turn, see its
 * header). Go refuses `-overlay` for files in its module cache, so the module is copied next to
 * the binary and the build points at the copy with a `replace` in a go.mod of its own
 * (`-modfile`); tools/ferretdb's go.mod and go.sum stay as they are.
 */
export async function ensureFerretDBBinary(options: {
  cacheDir: string;
  logger: Logger;
}): Promise<string> {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) {
    hash.update(await readFile(path.join(ferretdbModuleDir, file)));
  }
  for (const { file } of ferretdbOverlay) {
    hash.update(file);
    hash.update(await readFile(path.join(ferretdbModuleDir, '_overlay', file)));
  }
  const dir = path.join(options.cacheDir, `ferretdb-${hash.digest('hex').slice(0, 16)}`);
  const binary = path.join(dir, 'verity-ferretdb');
  if (await isExecutable(binary)) return binary;

  options.logger.info(
    { binary },
    'building the embedded MongoDB (FerretDB v1) with Go; this happens once',
  );
  await mkdir(dir, { recursive: true });
  const build = path.join(dir, `build-${randomUUID()}`);
  const partial = `${binary}.${randomUUID()}.partial`;
  try {
    const modfile = await prepareBuild(build);
    await execFileAsync(
      'go',
      ['build', `-modfile=${modfile}`, '-trimpath', '-o', partial, '.'],
      goOptions,
    );
  } catch (error) {
    await rm(partial, { force: true });
    const err = error as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT' && err.syscall?.startsWith('spawn')) {
      throw new Error(
        'Building the embedded MongoDB needs Go 1.24 or newer on PATH. Install Go, or set MONGODB_URI to use your own MongoDB.',
        { cause: error },
      );
    }
    throw new Error(`Building the embedded MongoDB failed:\n${err.stderr ?? err.message}`, {
      cause: error,
    });
  } finally {
    await rm(build, { recursive: true, force: true });
  }
  await rename(partial, binary);
  return binary;
}

/**
 * Lays out one build in `build`: a writable copy of FerretDB's module with the overlay files in
 * place, and a go.mod (with tools/ferretdb's go.sum beside it) that replaces the module with
 * the copy. Returns that go.mod's path.
 */
async function prepareBuild(build: string): Promise<string> {
  const { stdout } = await execFileAsync(
    'go',
    ['mod', 'download', '-json', ferretdbModule],
    goOptions,
  );
  const released = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (!released) throw new Error(`go mod download gave no directory for ${ferretdbModule}`);
  const source = path.join(build, 'ferretdb');
  await cp(released, source, { recursive: true });
  // The module cache is read-only; the copy must not be, to be changed and removed.
  await chmod(source, 0o755);
  for (const entry of await readdir(source, { recursive: true, withFileTypes: true })) {
    await chmod(path.join(entry.parentPath, entry.name), entry.isDirectory() ? 0o755 : 0o644);
  }
  for (const { file, released: sha256 } of ferretdbOverlay) {
    const original = createHash('sha256')
      .update(await readFile(path.join(source, file)))
      .digest('hex');
    if (original !== sha256) {
      throw new Error(
        `${ferretdbModule}'s ${file} is not the file tools/ferretdb/_overlay/${file} was made ` +
          'from: carry the overlay over to this FerretDB release (and its hash here), or drop it',
      );
    }
    await cp(path.join(ferretdbModuleDir, '_overlay', file), path.join(source, file));
  }
  const modfile = path.join(build, 'go.mod');
  const goMod = await readFile(path.join(ferretdbModuleDir, 'go.mod'), 'utf8');
  await writeFile(modfile, `${goMod}\nreplace ${ferretdbModule} => ${source}\n`);
  await cp(path.join(ferretdbModuleDir, 'go.sum'), path.join(build, 'go.sum'));
  return modfile;
}

/** A running embedded FerretDB. */
export interface EmbeddedFerretDB {
  /** `mongodb://127.0.0.1:<port>/` */
  readonly uri: string;
  /** The port it listens on, for a restart on the same address. */
  readonly port: number;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * Starts FerretDB on a free loopback port with its SQLite files in `dataDir` (created if
 * missing; keep it for a persistent database, use a temporary one for tests) and resolves once
 * it accepts connections.
 */
export async function startFerretDB(options: {
  binary: string;
  dataDir: string;
  logger: Logger;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** A fixed port (to restart on the same address); a free one by default. */
  port?: number;
}): Promise<EmbeddedFerretDB> {
  await mkdir(options.dataDir, { recursive: true });
  // FerretDB wants a directory URI with a trailing slash. SQLite's mode=memory is avoided on
  // purpose: concurrent updates can deadlock there.
  //
  // wal_autocheckpoint: in WAL mode the commit that takes the log past this many pages copies
  // the log into the database file and syncs it, inside that commit. SQLite's default, 1,000
  // pages, costs nothing on a small database, whose log is a few hot pages written again and
  // again; on a database of gigabytes those are a thousand pages scattered through the file,
  // and one insert in about 200 took over 10 ms, up to 22, instead of about 1 (2,000,000
  // documents, 1.5 GB: 10 to 12 of 2,000 inserts; none with 100 pages or with no checkpoint at
  // all). 100 pages spreads the same copying over ten times as many, ten times smaller,
  // checkpoints.
  const sqliteUrl = `file:${path.resolve(options.dataDir)}/?_pragma=wal_autocheckpoint(100)`;
  const child = await spawnManaged({
    name: 'ferretdb',
    command: options.binary,
    args: [
      `--sqlite-url=${sqliteUrl}`,
      `--listen-addr=127.0.0.1:${options.port ?? 0}`,
      `--log-level=${options.logLevel ?? 'error'}`,
      '--lifeline',
    ],
    readyPattern: /^listening (mongodb:\/\/\S+)$/,
    readyTimeoutMs: 30_000,
    logger: options.logger,
  });
  const uri = child.ready[1]!;
  return { uri, port: Number(new URL(uri).port), process: child, stop: () => child.stop() };
}
