// PostgreSQL's announcements of changed clusters, nodegroups and templates (the row triggers of
// migrations/008-change-notify.ts), received on one connection of its own that LISTENs; the API's
// read cache is invalidated by them (src/api/read-cache.ts explains why its answers are never
// stale). The connection is opened again after it is lost (every 1 s at most); between the loss
// and the new LISTEN nothing is announced, so both are reported as "anything may have changed".
import { createRequire } from 'node:module';
import type PgModule from 'pg';
import { CHANGE_CHANNEL } from './migrations/008-change-notify.ts';

const requireDriver = createRequire(import.meta.url);
/** A round trip on the listening connection slower than this: the connection is taken for lost. */
const SYNC_TIMEOUT_MS = 2_000;
const RECONNECT_MS = 1_000;

export class PgChangeFeed {
  readonly #target: string;
  readonly #listeners: ((key: string | null) => void)[] = [];
  readonly #onError: (reason: string) => void;
  #client: PgModule.Client | null = null;
  #live = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  /** The round trip on the wire, and the one that follows it (for callers that came after it was sent). */
  #inFlight: Promise<boolean> | null = null;
  #queued: Promise<boolean> | null = null;
  /** The last round trip sent, and when (performance.now()): callers within the window share it. */
  #last: Promise<boolean> | null = null;
  #lastSentAt = 0;
  readonly #windowMs: number;
  /** Round trips sent since the start. */
  roundTrips = 0;

  constructor(target: string, opts: { onError?: (reason: string) => void; windowMs?: number } = {}) {
    this.#target = target;
    this.#windowMs = opts.windowMs ?? 0;
    this.#onError = opts.onError ?? (() => undefined);
    void this.#connect();
  }

  get live(): boolean {
    return this.#live;
  }

  onChange(listener: (key: string | null) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Resolves once every change committed before the call, or more than the window before it, has
   * been announced here (false when it cannot tell). With a window of 0 that takes a round trip
   * sent after the call; with a window of W ms a round trip sent less than W ms before the call
   * will do (src/api/read-cache.ts says why that is enough for the answers the API gives).
   */
  sync(): Promise<boolean> {
    if (!this.#live) return Promise.resolve(false);
    const now = performance.now();
    // The last round trip sent (on the wire or answered) was sent recently enough.
    if (this.#last && now < this.#lastSentAt + this.#windowMs) return this.#last;
    if (!this.#inFlight) return this.#send(now);
    // The round trip on the wire was sent too long before this caller came: wait for the next.
    this.#queued ??= this.#inFlight.then(() => {
      this.#queued = null;
      return this.#live ? this.#send(performance.now()) : false;
    });
    return this.#queued;
  }

  #send(now: number): Promise<boolean> {
    this.roundTrips++;
    this.#lastSentAt = now;
    // #roundTrip never rejects: it resolves false when it cannot tell.
    const trip: Promise<boolean> = this.#roundTrip().then((ok) => {
      if (this.#inFlight === trip) this.#inFlight = null;
      // A round trip that failed is not one to share (and the feed is no longer live then anyway).
      if (!ok && this.#last === trip) this.#last = null;
      return ok;
    });
    this.#inFlight = this.#last = trip;
    return trip;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#live = false;
    clearTimeout(this.#timer);
    const c = this.#client;
    this.#client = null;
    await c?.end().catch(() => undefined);
  }

  async #roundTrip(): Promise<boolean> {
    const c = this.#client;
    if (!c || !this.#live) return false;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        this.#lost(c, `no answer on the listening connection within ${SYNC_TIMEOUT_MS / 1000} s`);
        resolve(false);
      }, SYNC_TIMEOUT_MS);
    });
    // Notifications sent before the answer are handled (synchronously, as they are parsed) before it.
    // An empty statement: the server answers it through the same idle point as any other (pending
    // notifications first), with two messages instead of four for the client to parse (a round
    // trip costs the client 45 us of CPU against 53 for SELECT 1 here, medians of 12 x 2,000).
    const answered = c.query('').then(() => this.#client === c && this.#live, () => false);
    try {
      return await Promise.race([answered, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  #emit(key: string | null): void {
    for (const l of this.#listeners) l(key);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const pg = requireDriver('pg') as typeof PgModule;
    const c = new pg.Client({ connectionString: this.#target, keepAlive: true, connectionTimeoutMillis: 5_000, application_name: 'magnum-change-feed' });
    c.on('error', (err) => this.#lost(c, err.message));
    c.on('end', () => this.#lost(c, 'the listening connection ended'));
    c.on('notification', (m) => {
      if (m.channel === CHANGE_CHANNEL && this.#client === c) this.#emit(m.payload || 'c');
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (err) {
      this.#onError(`could not listen for changes: ${(err as Error).message}`);
      c.end().catch(() => undefined);
      this.#retry();
      return;
    }
    if (this.#closed) {
      await c.end().catch(() => undefined);
      return;
    }
    this.#client = c;
    // What changed before LISTEN took effect was never announced here.
    this.#emit(null);
    this.#live = true;
  }

  #lost(c: PgModule.Client, reason: string): void {
    if (this.#client !== c) return;
    this.#client = null;
    this.#live = false;
    this.#last = null;
    this.#emit(null);
    if (!this.#closed) this.#onError(`stopped listening for changes: ${reason}`);
    c.end().catch(() => undefined);
    this.#retry();
  }

  #retry(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#connect(), RECONNECT_MS);
    this.#timer.unref();
  }
}
