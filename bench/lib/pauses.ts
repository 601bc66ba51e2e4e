import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/** What stood this process still since the previous `take()` (or since watching began), ms. */
export interface Pauses {
  /** The longest the event loop went without turning (a collection, or work that held it). */
  stallMs: number;
  /** The longest garbage-collection pause. */
  gcPauseMs: number;
}

/**
 * Watches this process's pauses: `take()` gives the longest stall and collection pause since
 * the previous `take()` and starts over; `gc` keeps the collections' totals since watching
 * began. The stall is measured at 10 ms resolution, so it shows as its length plus up to 10 ms.
 */
export function watchPauses(
  options: {
    /** Told of each collection: when it began (ms since the epoch), how long, its kind. */
    onCollection?: (at: number, ms: number, kind: number) => void;
  } = {},
) {
  const gc = { ms: 0, major: 0, longest: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? 0;
      options.onCollection?.(performance.timeOrigin + entry.startTime, entry.duration, kind);
      gc.ms += entry.duration;
      gc.longest = Math.max(gc.longest, entry.duration);
      // `detail.kind` 4: a full mark-compact (perf_hooks constants.NODE_PERFORMANCE_GC_MAJOR).
      if (kind === 4) gc.major++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  return {
    /** Time spent in collections, and how many were full ones, since watching began. */
    gc: gc as { readonly ms: number; readonly major: number },
    take(): Pauses {
      // In nanoseconds.
      const pauses = { stallMs: loop.count > 0 ? loop.max / 1e6 : 0, gcPauseMs: gc.longest };
      loop.reset();
      gc.longest = 0;
      return pauses;
    },
    stop() {
      loop.disable();
      observer.disconnect();
    },
  };
}
