// The database out of reach, as one error: a 503 MagnumError that the API renders in Magnum's format
// and that crosses RPC as it is. The SQL layer (src/db/sql/connection.ts) turns every driver error
// of that class into it: a connection refused, reset or terminated by a server shutting down, no
// connection within [database] pool_timeout, a statement that ran past [database] statement_timeout.
// Errors about the statement itself (a unique key, a syntax error) stay what they are.
import { MagnumError } from '../common/errors.ts';

export class DatabaseUnavailable extends MagnumError {
  /** For the log: the driver's error code and message, without any connection URL or password. */
  readonly reason: string;
  constructor(reason: string, message = 'The database is unavailable; try again later.') {
    super('ServiceUnavailable', 503, message);
    this.reason = reason;
  }
}

/**
 * An API request whose client closed its connection before the request's database work was
 * committed: the work is rolled back instead (see src/common/request-scope.ts and src/db/sql/connection.ts).
 */
export class RequestAbandoned extends MagnumError {
  constructor() {
    super('RequestAbandoned', 503, 'The client closed the connection before the request finished; its changes were not saved.');
  }
}

/** PostgreSQL SQLSTATEs of a server or connection that is gone, going or refusing, or of a bound that ran out. */
const PG_CODES = new Set([
  '57P01', // admin_shutdown: terminating connection due to administrator command (pg_ctl stop -m fast)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the database system is starting up / shutting down
  '57P05', // idle_session_timeout
  '57014', // query_canceled: statement_timeout
  '55P03', // lock_not_available: lock_timeout
  '53300', // too_many_connections
  '53200', // out_of_memory
  '08000', '08001', '08003', '08004', '08006', '08007', // connection_exception and its kinds
  '25P03', // idle_in_transaction_session_timeout
]);

/** MySQL / MariaDB errors of the same kinds (mysql2 gives them as code strings). */
const MYSQL_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'PROTOCOL_PACKETS_OUT_OF_ORDER',
  'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR', 'ER_CONNECTION_KILLED', 'ER_QUERY_INTERRUPTED',
  'ER_STATEMENT_TIMEOUT', 'ER_QUERY_TIMEOUT', 'ER_LOCK_WAIT_TIMEOUT', 'ER_CLIENT_INTERACTION_TIMEOUT',
  'ER_TOO_MANY_USER_CONNECTIONS', 'ER_OUT_OF_RESOURCES', 'ER_HOST_IS_BLOCKED',
]);

/** Socket-level errors: nothing answers, or the connection went away. */
const NET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EHOSTDOWN', 'EAI_AGAIN', 'ENOTCONN',
]);

const MESSAGES = [
  /^Connection terminated/, // pg: unexpectedly / due to connection timeout
  /timeout exceeded when trying to connect/, // pg-pool: connectionTimeoutMillis
  /Client has encountered a connection error and is not queryable/,
  /Client was closed and is not queryable/,
  /Query read timeout/,
  /Can't add new command when connection is in closed state/, // mysql2
  /Can't write in closed state/,
  /Connection lost: The server closed the connection/,
  /the database system is (starting up|shutting down|in recovery mode)/,
];

/**
 * Whether an error means the database cannot be used right now (as opposed to a statement it
 * refused). SQLite's busy timeout counts too.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailable) return true;
  if (err instanceof MagnumError || !err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; errno?: unknown; fatal?: unknown; message?: unknown; cause?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (PG_CODES.has(code) || MYSQL_CODES.has(code) || NET_CODES.has(code)) return true;
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_')) return true;
  // mysql2 marks errors that broke the connection as fatal (a duplicate key never is).
  if (e.fatal === true) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  if (MESSAGES.some((re) => re.test(message))) return true;
  // AggregateError (several addresses refused) and wrapped causes.
  if (err instanceof AggregateError && err.errors.some((x) => isDatabaseUnavailable(x))) return true;
  return e.cause !== undefined && e.cause !== err && isDatabaseUnavailable(e.cause);
}

/** A short reason for an unavailability error: its code, or its first line, with any URL credentials hidden. */
export function unavailableReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' && !/^\d/.test(e.code) ? e.code : '';
  const message = redactCredentials(typeof e?.message === 'string' ? e.message.split('\n')[0] : String(err));
  if (code && message && !message.includes(code)) return `${code}: ${message}`;
  return message || code || 'unknown error';
}

/** Any scheme://user:password@ in a text, with the password (up to the last @ of the word) replaced by ***. */
export function redactCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:@/\s]*):\S*@/gi, '$1:***@');
}

/**
 * The server chose this statement's transaction as the victim of a deadlock (MariaDB/MySQL 1213,
 * PostgreSQL 40P01) or of a serialization failure (40001), and rolled it back: running the whole
 * transaction again is the documented answer. InnoDB meets it even between single-row inserts
 * into a table with two unique keys, when several sessions insert at once.
 */
export function isDeadlock(e: unknown): boolean {
  const err = e as { code?: unknown; errno?: unknown; sqlState?: unknown } | null;
  return err?.code === 'ER_LOCK_DEADLOCK' || err?.errno === 1213 || err?.code === '40P01' || err?.code === '40001' ||
    err?.sqlState === '40001';
}

/** How many times a deadlock victim is run again before its error is given to the caller. */
export const DEADLOCK_RETRIES = 5;

/** A short random pause before a deadlock victim runs again, longer at each attempt, so the two sides do not meet again at once. */
export function deadlockPause(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 10 * (attempt + 1)) + 1));
}

/** A driver error of a unique key (PostgreSQL, MariaDB/MySQL, SQLite), before it becomes one of the classes below. */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; errno?: number; message?: string };
  return err?.code === '23505' || err?.code === 'ER_DUP_ENTRY' || err?.errno === 1062 ||
    err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || /UNIQUE constraint failed/.test(err?.message ?? '');
}

/** An insert or update hit a unique key (the caller turns it into the resource's 409). */
export class UniqueViolation extends Error {}

/** A workload of that kind and name exists in the cluster already. */
export class DuplicateWorkload extends Error {}
