// A bounded cache's map in recency order, kept coarse: a hit moves its entry to the newest end only
// once capacity/2 entries have been put at that end since it was last put there, so an entry used
// request after request does not rewrite the map each time. An entry used since the last
// capacity/2 insertions is never the oldest. The caller evicts (oldest() first) and bounds it.
// Used by the token cache (src/api/hooks/authenticator.ts) and the read cache (src/api/read-cache.ts).

export class RecencyMap<K, V> {
  readonly #entries = new Map<K, { value: V; seq: number }>();
  readonly #settled: number;
  /** Insertions at the newest end so far: an entry's seq is the value at its last one. */
  #seq = 0;

  constructor(capacity: number) {
    this.#settled = capacity / 2;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value under `key`, as a hit: moved to the newest end if it is in the older half. */
  get(key: K): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (this.#seq - e.seq >= this.#settled) {
      this.#entries.delete(key);
      e.seq = ++this.#seq;
      this.#entries.set(key, e);
    }
    return e.value;
  }

  /** The value under `key` without counting it as used. */
  peek(key: K): V | undefined {
    return this.#entries.get(key)?.value;
  }

  /** Puts `value` at the newest end (replacing what `key` held). */
  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, seq: ++this.#seq });
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  /** The key first out. */
  oldest(): K | undefined {
    return this.#entries.keys().next().value;
  }

  clear(): void {
    this.#entries.clear();
  }
}
