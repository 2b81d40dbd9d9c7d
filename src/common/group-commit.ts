// Group commit: concurrent callers' writes go out together. While one batch is being written, the
// callers that arrive queue up; when it is done, all of them go out as the next batch. Alone, a
// caller is written at once (no timer, no added wait); under load, N callers cost one round trip
// instead of N. A batch that fails is retried one caller at a time, so a caller gets the outcome
// of its own write only (one bad item never fails the others); an error that would fail every
// item alike (a database outage, as `alike` tells) fails the whole batch without retries.
// Batches are written in no request's scope (src/common/request-scope.ts): a batch runs where its
// first caller started it, and that client leaving must not fail the others.
import { noteCommit, outsideRequestScope } from './request-scope.ts';

interface Pending<T> {
  item: T;
  /** With when the item's commit was known to be done, if the write said (else when it resolved). */
  resolve: (committedAt?: number) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T> {
  readonly #write: (items: T[]) => Promise<number | void>;
  readonly #maxBatch: number;
  readonly #alike: (err: unknown) => boolean;
  readonly #refuse: (item: T) => unknown;
  #queue: Pending<T>[] = [];
  #writing = false;

  /**
   * `write` stores every item given, all or nothing; at most `maxBatch` items at once; it may
   * return when (performance.now()) its commit was known to be done, if it does more after it,
   * for the callers' request scopes (noteCommit; else they note when it resolves). `refuse`
   * gives the error of an item that must not be written any more (its client left while it
   * waited), checked as its batch goes out: that item fails with it and the others are written.
   */
  constructor(write: (items: T[]) => Promise<number | void>, opts: { maxBatch?: number; alike?: (err: unknown) => boolean; refuse?: (item: T) => unknown } = {}) {
    this.#write = write;
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 64);
    this.#alike = opts.alike ?? (() => false);
    this.#refuse = opts.refuse ?? (() => undefined);
  }

  /** Resolves once `item` is written (with others, or alone after its batch failed); the caller's request has committed then. */
  async submit(item: T): Promise<void> {
    const committedAt = await new Promise<number | undefined>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#writing) void this.#drain();
    });
    noteCommit(committedAt);
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length) {
        const batch = this.#queue.splice(0, this.#maxBatch).filter((p) => {
          const refused = this.#refuse(p.item);
          if (refused !== undefined) p.reject(refused);
          return refused === undefined;
        });
        if (batch.length === 0) continue;
        try {
          const at = await outsideRequestScope(() => this.#write(batch.map((p) => p.item)));
          for (const p of batch) p.resolve(at ?? undefined);
        } catch (err) {
          if (batch.length === 1 || this.#alike(err)) {
            for (const p of batch) p.reject(err);
            continue;
          }
          // One at a time, so that each caller gets the outcome of its own write.
          for (const p of batch) {
            try {
              const at = await outsideRequestScope(() => this.#write([p.item]));
              p.resolve(at ?? undefined);
            } catch (e) {
              p.reject(e);
            }
          }
        }
      }
    } finally {
      this.#writing = false;
    }
  }
}
