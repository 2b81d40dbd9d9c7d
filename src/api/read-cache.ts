// The API's read cache: answers of hot read routes (a cluster's show, the cluster lists, the
// template lists) kept in memory, in every API process, for as long as nothing they show changed.
//
// Invalidation across processes comes from the database itself (PostgreSQL only): row triggers on
// cluster, nodegroup and cluster_template announce every committed change on a channel, whoever
// made it (src/db/sql/migrations/008-change-notify.ts), and every API process listens on its own
// connection (src/db/sql/change-feed.ts). A notification drops the entries it concerns: `c:<uuid>`
// a cluster's show and every cluster list, `c` every cluster entry, `t` everything (cluster views
// show their template's labels).
//
// Why an answer from here shows every change its client could know of:
// - Before any entry is used, the request waits for a round trip on the listening connection
//   (sync()). PostgreSQL signals a listening session when a notifying transaction commits,
//   before the writer gets its COMMIT answer, and sends the pending notifications before
//   answering that session's next statement; so when a round trip sent at time S is back, every
//   change committed before S has been received and its entries dropped.
// - With [api] read_cache_sync_window = 0, the round trip must be sent after the request came
//   (one serves every request that came before it was sent): the answer is never older than one
//   read from the database when the request came.
// - With a window of W ms (1 by default), a round trip sent less than W ms before the request
//   came will do (under load, about one round trip per W ms instead of one per few requests).
//   That covers every change committed more than W ms before the request came (W ms before it is
//   before the round trip was sent). And every API process holds the answer to a request that
//   committed a change until W ms after its last commit (src/api/app.ts; the commits are noted
//   in the request's scope, src/common/request-scope.ts, by the database layer, a group commit
//   the request joined, and a conductor's answer to a call or task made for it): a client, or
//   anyone it told, learns of a change made through the API at least W ms after its commit, so
//   any request sent after that answer arrived comes more than W ms after the commit, and is
//   covered. What is left: a change the conductor makes on its own (a status, a health poll) or
//   one made by hand may be missed for up to W ms after its commit, by a request that came
//   within those W ms. Every API process on one database needs the same window (a process
//   holding its answers for less than another one's window weakens the other's guarantee for the
//   changes it answers).
// - Times are read from one process's monotonic clock (the window's start and the request's
//   arrival), and the hold is measured by the writer's: only durations are compared, never clocks
//   of different machines. A timer that fires early is checked against the clock (holdFor).
// - With [api] read_cache_sync = false the round trip is skipped: an entry is used as long as the
//   connection listens, so a change made through another process is seen once its notification
//   has arrived (well under a millisecond on one host) instead of at once; so is a change this
//   process made itself (its notification comes the same way).
// - While the listening connection is down (or a round trip fails or takes over 2 s) nothing is
//   read from or written to the cache and it is emptied: notifications of that time are lost.
// SQLite and MariaDB have no such notifications: there the cache is not used (ReadCache absent).
//
// Entries are frozen (a handler cannot change what another request will be given) and bounded
// in number and in characters of JSON, least recently used first out.

import { RecencyMap } from '../common/recency-map.ts';

/** What the cache needs of the database's change announcements (PgChangeFeed implements it). */
export interface ChangeFeed {
  /** Listening now: announcements are being received. */
  readonly live: boolean;
  /** Resolves once every change committed before the call has been announced here; false when it cannot tell. */
  sync(): Promise<boolean>;
  /** `key` as announced (`c:<uuid>`, `c`, `t`), or null: anything may have changed (connection lost or regained). */
  onChange(listener: (key: string | null) => void): void;
}

/** An answer as a route gives it: its JSON text, and what must be checked for each caller. */
export interface CachedAnswer<T = unknown> {
  json: string;
  /** The resource a per-caller policy check needs (e.g. the cluster of a show), frozen. */
  target?: T;
}

/** Tags: what an entry shows. `c:<uuid>` one cluster (with its nodegroups), `c` any cluster, `t` any template. */
export const TEMPLATE_TAG = 't';
export const ANY_CLUSTER_TAG = 'c';
export const clusterTag = (uuid: string) => `c:${uuid}`;

interface Entry {
  answer: CachedAnswer;
  tags: readonly string[];
  size: number;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

export class ReadCache {
  readonly #feed: ChangeFeed;
  readonly #maxEntries: number;
  readonly #maxChars: number;
  /** In recency order, kept coarse (src/common/recency-map.ts). */
  readonly #entries: RecencyMap<string, Entry>;
  readonly #byTag = new Map<string, Set<string>>();
  #chars = 0;
  /** Bumped by every announcement: a read that saw it change is not stored. */
  #generation = 0;

  /** Wait for sync() before using an entry ([api] read_cache_sync); else an entry is used while the feed is live. */
  readonly #sync: boolean;

  constructor(feed: ChangeFeed, opts: { maxEntries?: number; maxChars?: number; sync?: boolean } = {}) {
    this.#feed = feed;
    this.#sync = opts.sync ?? true;
    this.#maxEntries = opts.maxEntries ?? 2000;
    this.#maxChars = opts.maxChars ?? 32 * 1024 * 1024;
    this.#entries = new RecencyMap(this.#maxEntries);
    feed.onChange((key) => this.#invalidate(key));
  }

  /** Answers given from the cache, and read from the database, since the start. */
  readonly stats = { hits: 0, misses: 0 };

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The answer under `key`: the cached one when nothing it shows changed, else `load()`'s (stored
   * unless a change was announced while it was read). `load` throws for answers not to keep (404s).
   */
  async get<T>(key: string, tags: readonly string[], load: () => Promise<CachedAnswer<T>>): Promise<CachedAnswer<T>> {
    if (this.#sync ? !(await this.#feed.sync()) : !this.#feed.live) return load();
    const hit = this.#entries.get(key);
    if (hit) {
      this.stats.hits++;
      return hit.answer as CachedAnswer<T>;
    }
    this.stats.misses++;
    const generation = this.#generation;
    const answer = await load();
    if (generation === this.#generation && this.#feed.live) this.#store(key, tags, deepFreeze(answer));
    return answer;
  }

  #store(key: string, tags: readonly string[], answer: CachedAnswer): void {
    const size = answer.json.length;
    if (size > this.#maxChars / 4) return;
    this.#drop(key);
    this.#entries.set(key, { answer, tags, size });
    this.#chars += size;
    for (const t of tags) {
      let keys = this.#byTag.get(t);
      if (!keys) this.#byTag.set(t, (keys = new Set()));
      keys.add(key);
    }
    while (this.#entries.size > this.#maxEntries || this.#chars > this.#maxChars) {
      const oldest = this.#entries.oldest();
      if (oldest === undefined) break;
      this.#drop(oldest);
    }
  }

  #drop(key: string): void {
    const e = this.#entries.peek(key);
    if (!e) return;
    this.#entries.delete(key);
    this.#chars -= e.size;
    for (const t of e.tags) {
      const keys = this.#byTag.get(t);
      keys?.delete(key);
      if (keys?.size === 0) this.#byTag.delete(t);
    }
  }

  #dropTag(tag: string): void {
    for (const key of [...(this.#byTag.get(tag) ?? [])]) this.#drop(key);
  }

  #invalidate(key: string | null): void {
    this.#generation++;
    if (key === null || key === TEMPLATE_TAG || key === ANY_CLUSTER_TAG) {
      // Every entry shows a template or a cluster (a template list only templates, but a `c` is rare).
      this.#entries.clear();
      this.#byTag.clear();
      this.#chars = 0;
      return;
    }
    this.#dropTag(key);
    if (key.startsWith('c:')) this.#dropTag(ANY_CLUSTER_TAG);
  }
}

/**
 * Resolves no sooner than `ms` milliseconds from now by the monotonic clock. Node's timers count
 * whole milliseconds from the event loop's cached time, so a timer may fire early (or a
 * millisecond late): whole milliseconds left are waited with a timer, and what is left after the
 * first timer (a fraction of a millisecond) one event-loop turn at a time, which adds no timer's
 * rounding to a hold of 1-2 ms (measured: a 1 ms hold added about 2 ms to a PATCH with timers
 * alone, as a timer that fired early was followed by another whole millisecond).
 */
export async function holdFor(ms: number): Promise<void> {
  const until = performance.now() + ms;
  let timed = false;
  for (let left = ms; left > 0; left = until - performance.now()) {
    if (left >= 1 || !timed) {
      timed = true;
      await new Promise((r) => setTimeout(r, Math.max(1, Math.floor(left))));
    } else {
      await new Promise((r) => setImmediate(r));
    }
  }
}

/**
 * A cache key from its parts: a string without NUL as it is, anything else as JSON, each part
 * after a NUL and a letter saying which. Different parts always give different keys (no part's
 * text holds a NUL), and for the strings routes pass (a scope, a uuid, a host) it costs a few
 * concatenations instead of serialising the objects.
 */
export function cacheKey(parts: readonly unknown[]): string {
  let key = '';
  for (const p of parts) key += typeof p === 'string' && !p.includes('\u0000') ? `\u0000s${p}` : `\u0000j${JSON.stringify(p)}`;
  return key;
}

/** The part of a cache key that names the rows a page holds. */
export const pageKey = (p: { limit: number; sortKey: string; sortDir: string; marker: string | undefined }): string =>
  `${p.limit} ${p.sortKey} ${p.sortDir} ${p.marker ?? '-'}`;

/** The part of a cache key that names the rows a scope may see. */
export const scopeKey = (scope: { kind: 'all' } | { kind: 'project'; projectId: string }): string =>
  (scope.kind === 'all' ? '*' : `p:${scope.projectId}`);

/**
 * A route's 200 answer through the cache when there is one: `load` reads and builds it (and
 * throws for a 404 and the like, which is not kept); `check` runs for every caller on the
 * answer's target (the policy checks that depend on the resource), after the load as before.
 * Without a cache the answer is built as it always was.
 */
export async function cachedReply<T>(
  cache: ReadCache | undefined,
  key: readonly unknown[],
  tags: readonly string[],
  load: () => Promise<{ body: unknown; target?: T }>,
  check?: (target: T) => void,
): Promise<{ status: number; body?: unknown; json?: string }> {
  if (!cache) {
    const { body, target } = await load();
    check?.(target as T);
    return { status: 200, body };
  }
  const answer = await cache.get<T>(cacheKey(key), tags, async () => {
    const { body, target } = await load();
    return { json: JSON.stringify(body), target };
  });
  check?.(answer.target as T);
  return { status: 200, json: answer.json };
}
