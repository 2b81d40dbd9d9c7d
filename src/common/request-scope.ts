// The scope of an API request: everything a request's handler starts runs with a flag that turns
// true when its client goes away, and the database layer refuses the request's statements from
// then on (src/db/sql/connection.ts, GuardedSession). Work done for several requests at once (a
// batched read or write) runs in no request's scope instead. The scope also keeps when the
// request last committed a change (noteCommit: GuardedSession, a group commit its write joined,
// a conductor's answer to a call), which the API's answer waits on (src/api/read-cache.ts).
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ServerResponse } from 'node:http';

/** Whether the request's client went away; an AbortSignal is one, a plain flag is cheaper per request. */
export interface RequestGone { readonly aborted: boolean }

/** What a request's scope holds: its gone flag, and when (performance.now()) it last committed, 0 before. */
interface Scope extends RequestGone {
  committedAt?: number;
}

const requestScope = new AsyncLocalStorage<Scope>();

/** Runs `fn` (and everything it starts) in the scope of a request with this signal. */
export function runInRequestScope<T>(signal: RequestGone, fn: () => T): T {
  return requestScope.run(signal, fn);
}

/** Runs `fn` in the scope of the request `res` answers: gone once the connection closes before the answer is sent. */
export function inRequestScope<T>(res: ServerResponse, fn: () => T): T {
  // A flag rather than an AbortController: only its value is read, and it is made per request.
  const gone = { aborted: false, committedAt: 0 };
  res.once('close', () => {
    if (!res.writableFinished) gone.aborted = true;
  });
  return runInRequestScope(gone, fn);
}

/**
 * The request the caller works for has committed a change just now, or at `at` (performance.now()
 * read once the commit was known to be done), or may have (another process answered a call for
 * it). Outside a request, nothing.
 */
export function noteCommit(at = performance.now()): void {
  const scope = requestScope.getStore();
  if (scope && at > (scope.committedAt ?? 0)) scope.committedAt = at;
}

/** When (performance.now()) the request the caller works for last committed a change; 0 if it has not. */
export function lastCommitAt(): number {
  return requestScope.getStore()?.committedAt ?? 0;
}

/** The signal of the request the caller works for, if any. */
export function currentRequestScope(): RequestGone | undefined {
  return requestScope.getStore();
}

/**
 * Runs `fn` in no request's scope: for work done on behalf of several requests at once (a
 * batched read or write: BatchLoad and GroupCommit run theirs so), which runs wherever its first
 * caller started it and must not be refused because that one client left.
 */
export function outsideRequestScope<T>(fn: () => T): T {
  return requestScope.exit(fn);
}
