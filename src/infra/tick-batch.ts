/**
 * Joins the calls that everything in flight makes in one turn of the event loop into one: the
 * reads of the requests a busy instance is serving at once (their replies arrive together, so
 * their next reads start together) go out as one Redis command instead of one each. A batch is
 * sent once the I/O of the turn it was opened in has run (`setImmediate`), as ioredis's
 * automatic pipelining sends its commands: it takes the reads of every reply and request that
 * turn handled, and of the DataLoader batches they started.
 *
 * `run` gets a batch's parts in order and answers with one result per part; a batch that
 * fails fails each of its parts with the same error. A batch holding `maxWeight` is sent as it
 * is, and the next part starts another.
 */
export function createTickBatches<P, R>(options: {
  run: (group: string, parts: readonly P[]) => Promise<R[]>;
  weightOf: (part: P) => number;
  maxWeight: number;
}): (group: string, part: P) => Promise<R> {
  interface Batch {
    parts: P[];
    weight: number;
    settle: { resolve: (result: R) => void; reject: (error: unknown) => void }[];
  }
  const open = new Map<string, Batch>();

  const send = (group: string, batch: Batch) => {
    if (open.get(group) === batch) open.delete(group);
    options.run(group, batch.parts).then(
      (results) => batch.settle.forEach(({ resolve }, i) => resolve(results[i]!)),
      (error: unknown) => batch.settle.forEach(({ reject }) => reject(error)),
    );
  };

  return (group, part) => {
    let batch = open.get(group);
    if (!batch) {
      const opened: Batch = { parts: [], weight: 0, settle: [] };
      open.set(group, opened);
      setImmediate(() => send(group, opened));
      batch = opened;
    }
    const joined = batch;
    joined.parts.push(part);
    joined.weight += options.weightOf(part);
    // Full: later parts open another batch; this one still goes out at the end of the turn.
    if (joined.weight >= options.maxWeight) open.delete(group);
    return new Promise<R>((resolve, reject) => joined.settle.push({ resolve, reject }));
  };
}
