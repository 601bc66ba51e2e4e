/**
 * Builds the embedded MongoDB (FerretDB, from tools/ferretdb) into the cache, or does nothing
 * when the cache already holds a build of the current sources. Prints the binary's path.
 */
import { loadConfig } from '../src/config.js';
import { ensureFerretDBBinary } from '../src/infra/embedded/ferretdb.js';
import { createLogger } from '../src/infra/logger.js';

const config = loadConfig();
const binary = await ensureFerretDBBinary({
  cacheDir: config.cacheDir,
  logger: createLogger({ level: 'info', name: 'build-ferretdb' }),
});
console.log(binary);
