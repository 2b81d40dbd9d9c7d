/** At most `limit` holders at once; the others wait in arrival order. */
export class Slots {
  #limit: number;
  #held = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Changes the limit: more slots let waiters in at once; with fewer, holders above it finish first. */
  set limit(limit: number) {
    this.#limit = Math.max(1, limit);
    while (this.#held < this.#limit && this.#waiting.length) {
      this.#held++;
      this.#waiting.shift()!();
    }
  }

  get limit(): number {
    return this.#limit;
  }

  /** Slots held now. */
  get held(): number {
    return this.#held;
  }

  /** Runs `fn` now if a slot is free (its promise, never rejecting: `fn` must not reject), else false. */
  tryRun(fn: () => Promise<unknown>): boolean {
    if (this.#held >= this.#limit) return false;
    void this.run(fn);
    return true;
  }

  /** Runs `fn` once a slot is free, and frees the slot when it settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#held >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#held++;
    try {
      return await fn();
    } finally {
      // The slot passes straight to the next waiter (the count stays), else it is given back
      // (also when the limit was lowered below the slots held).
      const next = this.#held <= this.#limit ? this.#waiting.shift() : undefined;
      if (next) next();
      else this.#held--;
    }
  }
}
