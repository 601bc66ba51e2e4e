import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../logger.js';

/** How a child process ended: its exit code, or the signal that killed it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process that Verity owns: started, awaited until ready, and stopped with it. */
export interface ManagedProcess {
  readonly pid: number;
  /** The first stdout line that matched `readyPattern`, with its capture groups. */
  readonly ready: RegExpMatchArray;
  /**
   * Resolves when the process has exited, after anything it left in its process group has been
   * killed (the redis-server under its lifeline wrapper, when the wrapper alone was killed).
   */
  readonly exited: Promise<ExitStatus>;
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
  /** Environment variables to set for the process, on top of Verity's own. */
  env?: Readonly<Record<string, string>>;
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
  const child = spawn(command, args, {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: options.env ? { ...process.env, ...options.env } : process.env,
  });
  // Ending the lifeline of a child that has already died may fail with EPIPE; nothing to do.
  child.stdin.on('error', () => undefined);

  const killGroup = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };

  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      // The group outlives its leader when only the leader was killed; what is left would hold
      // the port that a restart needs.
      killGroup();
      resolve({ code, signal });
    });
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
  const exitedEarly = exited.then(({ code, signal }) => {
    throw new Error(`${name} exited with ${signal ?? `code ${code}`} before it was ready`);
  });

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

/** A managed process that is restarted whenever it exits without being asked to. */
export interface SupervisedProcess {
  /** The child running now (or the last one, while a restart is pending); replaced by restarts. */
  readonly current: ManagedProcess;
  /** Stops supervising, cancels a pending restart, and stops the child. Idempotent. */
  stop(): Promise<void>;
}

export interface SuperviseOptions {
  /** How logs name the helper, e.g. "embedded MongoDB (FerretDB)". */
  label: string;
  /**
   * Starts a replacement. It must come back on the same address with the same data, so that
   * clients connected to the first one (mongoose, ioredis) reconnect to it on their own.
   */
  restart(): Promise<ManagedProcess>;
  logger: Logger;
  /** The first restart waits this long; each failure in a row doubles it. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** A child that ran this long before exiting was stable: the backoff starts over. */
  stableAfterMs?: number;
}

/**
 * Keeps a helper running: when `first` (or a replacement) exits while supervision is on, the
 * exit is logged with its code or signal and `restart` runs after an exponential backoff
 * (100 ms doubling to 5 s by default), retried until it succeeds or `stop` is called. Without
 * this, a FerretDB killed by the OOM killer or a crash would leave every write failing until
 * someone restarted Verity by hand.
 */
export function superviseManaged(
  first: ManagedProcess,
  options: SuperviseOptions,
): SupervisedProcess {
  const { label, logger } = options;
  const initialDelayMs = options.initialDelayMs ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 5_000;
  const stableAfterMs = options.stableAfterMs ?? 30_000;

  let current = first;
  let startedAt = Date.now();
  let supervising = true;
  let delayMs = initialDelayMs;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;

  const scheduleRestart = () => {
    attempt += 1;
    logger.warn({ process: label, attempt, delayMs }, `restarting the ${label}`);
    timer = setTimeout(() => {
      timer = undefined;
      restarting = restartOnce().finally(() => {
        restarting = undefined;
      });
    }, delayMs);
    delayMs = Math.min(delayMs * 2, maxDelayMs);
  };

  const restartOnce = async () => {
    let child: ManagedProcess;
    try {
      child = await options.restart();
    } catch (error) {
      if (!supervising) return;
      logger.error({ err: error, process: label, attempt }, `the ${label} did not restart`);
      scheduleRestart();
      return;
    }
    // Stopped while the replacement was starting: it must not outlive Verity.
    if (!supervising) {
      await child.stop();
      return;
    }
    logger.info({ process: label, attempt, childPid: child.pid }, `the ${label} restarted`);
    watch(child);
  };

  const watch = (child: ManagedProcess) => {
    current = child;
    startedAt = Date.now();
    void child.exited.then(({ code, signal }) => {
      if (!supervising) return;
      const ranMs = Date.now() - startedAt;
      logger.error(
        { process: label, childPid: child.pid, code, signal, ranMs },
        `the ${label} exited unexpectedly`,
      );
      if (ranMs >= stableAfterMs) {
        delayMs = initialDelayMs;
        attempt = 0;
      }
      scheduleRestart();
    });
  };

  watch(first);

  return {
    get current() {
      return current;
    },
    stop() {
      stopping ??= (async () => {
        supervising = false;
        clearTimeout(timer);
        await restarting;
        await current.stop();
      })();
      return stopping;
    },
  };
}
