import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../logger.js';

/** A child process that Verity owns: started, awaited until ready, and stopped with it. */
export interface ManagedProcess {
  readonly pid: number;
  /** The first stdout line that matched `readyPattern`, with its capture groups. */
  readonly ready: RegExpMatchArray;
  /** Resolves with the exit code (or null after a signal) when the process has exited. */
  readonly exited: Promise<number | null>;
  /** Closes the lifeline, waits for a clean exit, and kills the process group after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnManagedOptions {
  name: string;
  command: string;
  args: readonly string[];
  /** Matched against each stdout line; the process counts as ready on the first match. */
  readyPattern: RegExp;
  readyTimeoutMs: number;
  logger: Logger;
}

/**
 * Spawns a long-lived helper (the embedded FerretDB or redis-server) under two rules:
 *
 * - It runs in its own process group (`detached`), so the Ctrl-C that a terminal sends to the
 *   whole foreground group reaches only Verity, which drains its clients first and stops the
 *   helper last.
 * - Its stdin is a lifeline: the helper exits when stdin closes. If Verity dies without
 *   stopping it (SIGKILL, a crash), the kernel closes the pipe and the helper follows, so no
 *   orphan keeps a port or a data directory.
 */
export async function spawnManaged(options: SpawnManagedOptions): Promise<ManagedProcess> {
  const { name, command, args, readyPattern, readyTimeoutMs, logger } = options;
  const child = spawn(command, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });

  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(error));
  });
  spawnError.catch(() => undefined);

  const stderrTail: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
    logger.debug({ process: name }, line);
  });

  const lines = createInterface({ input: child.stdout });
  const ready = new Promise<RegExpMatchArray>((resolve) => {
    lines.on('line', (line) => {
      logger.trace({ process: name }, line);
      const match = readyPattern.exec(line);
      if (match) resolve(match);
    });
  });

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${name} was not ready within ${readyTimeoutMs} ms`)),
      readyTimeoutMs,
    );
  });
  const exitedEarly = exited.then((code) => {
    throw new Error(`${name} exited with code ${code} before it was ready`);
  });

  const killGroup = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };

  let match: RegExpMatchArray;
  try {
    match = await Promise.race([ready, timeout, exitedEarly, spawnError]);
  } catch (error) {
    killGroup();
    const detail = stderrTail.length > 0 ? `\n${stderrTail.join('\n')}` : '';
    throw new Error(`${(error as Error).message}${detail}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
  exitedEarly.catch(() => undefined);

  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid!,
    ready: match,
    exited,
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        child.stdin.end();
        if (child.exitCode !== null || child.signalCode !== null) return;
        let grace: NodeJS.Timeout | undefined;
        const forced = new Promise<void>((resolve) => {
          grace = setTimeout(() => {
            logger.warn({ process: name }, 'did not stop in time; killing it');
            killGroup();
            resolve();
          }, graceMs);
        });
        await Promise.race([exited.then(() => undefined), forced]);
        clearTimeout(grace);
        await exited;
      })();
      return stopping;
    },
  };
}
