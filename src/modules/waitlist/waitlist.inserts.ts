interface Waiting<T> {
  record: T;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface WriteErrorLike {
  index: number;
  code?: number;
  errmsg?: string;
}

/**
 * Inserts documents in groups: calls that arrive while a write is in flight are sent together
 * as one unordered `insertMany` when it returns (group commit). In a sign-up surge this turns
 * hundreds of single-document writes, each its own database transaction, into a few large
 * ones. Each caller still learns its own outcome: a document refused by a unique index
 * rejects only its caller, with the server's error code (E11000), and the others are stored.
 */
export function createGroupInserter<T>(options: {
  /** An unordered insertMany (`ordered: false`), so one refused document stops no other. */
  insertMany: (records: T[]) => Promise<unknown>;
  maxBatch: number;
}) {
  let queue: Waiting<T>[] = [];
  let writing = false;

  const write = async (): Promise<void> => {
    writing = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, options.maxBatch);
      queue = queue.slice(batch.length);
      try {
        await options.insertMany(batch.map((w) => w.record));
        for (const waiting of batch) waiting.resolve();
      } catch (error) {
        const writeErrors = (error as { writeErrors?: WriteErrorLike | WriteErrorLike[] })
          .writeErrors;
        if (!writeErrors) {
          for (const waiting of batch) waiting.reject(error);
          continue;
        }
        const failed = new Map<number, WriteErrorLike>();
        for (const writeError of [writeErrors].flat()) failed.set(writeError.index, writeError);
        batch.forEach((waiting, index) => {
          const writeError = failed.get(index);
          if (!writeError) waiting.resolve();
          else
            waiting.reject(
              Object.assign(new Error(writeError.errmsg ?? 'insert refused'), {
                code: writeError.code,
              }),
            );
        });
      }
    }
    writing = false;
  };

  return {
    insert(record: T): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        queue.push({ record, resolve, reject });
        if (!writing) void write();
      });
    },
  };
}
