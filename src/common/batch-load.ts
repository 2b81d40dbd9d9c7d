// Batched reads: keys asked for while one read is under way are read together next, in one query
// (the read-side twin of src/common/group-commit.ts). Alone, a key is read at once; under load, N
// callers cost one round trip. Each caller gets the value read for its key after it asked (a
// caller never gets a value read before it called). The reads run in no request's scope
// (src/common/request-scope.ts): they serve every caller that joined, so the client of the one
// that started them leaving must not fail the others.
import { outsideRequestScope } from './request-scope.ts';

interface Waiter<V> {
  resolve: (v: V) => void;
  reject: (err: unknown) => void;
}

export class BatchLoad<K, V> {
  readonly #read: (keys: K[]) => Promise<Map<K, V>>;
  readonly #maxBatch: number;
  #queue = new Map<K, Waiter<V>[]>();
  #reading = false;

  /** `read` returns the value of every key given (a key it leaves out is an error for its callers). */
  constructor(read: (keys: K[]) => Promise<Map<K, V>>, opts: { maxBatch?: number } = {}) {
    this.#read = read;
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 256);
  }

  load(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const waiters = this.#queue.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.#queue.set(key, [{ resolve, reject }]);
      if (!this.#reading) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#reading = true;
    try {
      while (this.#queue.size) {
        const batch = [...this.#queue].slice(0, this.#maxBatch);
        for (const [k] of batch) this.#queue.delete(k);
        try {
          const values = await outsideRequestScope(() => this.#read(batch.map(([k]) => k)));
          for (const [k, waiters] of batch) {
            const v = values.get(k);
            for (const w of waiters) {
              if (v === undefined) w.reject(new Error(`batched read returned nothing for ${String(k)}`));
              else w.resolve(v);
            }
          }
        } catch (err) {
          for (const [, waiters] of batch) for (const w of waiters) w.reject(err);
        }
      }
    } finally {
      this.#reading = false;
    }
  }
}
