// Keystone tokens kept between `coe` runs, so a command does not log in every time:
// ~/.cache/coe/tokens.json ($XDG_CACHE_HOME honoured), directory 0700, file 0600, written
// atomically. Entries are keyed by auth URL, auth method, user and project (never by a secret),
// reused until a minute before they expire, and dropped when the API refuses them.
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { CatalogEntry, IssuedToken } from './keystone.ts';
import type { AuthSettings } from './settings.ts';

/** A token this close to its expiry is not reused. */
const MARGIN_MS = 60_000;

interface Entry {
  auth_url: string;
  token: string;
  expires_at: string;
  catalog: CatalogEntry[];
  user_id?: string;
  project_id?: string;
}

interface CacheFile {
  version: 1;
  tokens: Record<string, Entry>;
}

export function defaultCachePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'coe', 'tokens.json');
}

/** Who the token is for: everything that selects a user and a scope, and nothing secret. */
export function cacheKey(s: AuthSettings): string {
  const who = [s.authUrl?.replace(/\/+$/, ''), s.authType, s.userId, s.userDomainId, s.userDomainName, s.username,
    s.projectId, s.projectDomainId, s.projectDomainName, s.projectName, s.domainId, s.domainName,
    s.applicationCredentialId, s.applicationCredentialName];
  return createHash('sha256').update(JSON.stringify(who)).digest('hex');
}

export class TokenCache {
  readonly path: string;

  constructor(path = defaultCachePath()) {
    this.path = path;
  }

  #read(): CacheFile {
    try {
      const st = statSync(this.path);
      // A cache someone else could read is not trusted (and is rewritten 0600 on the next save).
      if ((st.mode & 0o077) !== 0 || (typeof process.getuid === 'function' && st.uid !== process.getuid())) return { version: 1, tokens: {} };
      const doc = JSON.parse(readFileSync(this.path, 'utf8'));
      if (doc?.version === 1 && doc.tokens && typeof doc.tokens === 'object') return doc as CacheFile;
    } catch {
      /* missing or unreadable: start empty */
    }
    return { version: 1, tokens: {} };
  }

  #write(doc: CacheFile): void {
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      chmodSync(dir, 0o700);
    } catch {
      /* not ours to change: the file mode still protects the tokens */
    }
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(doc));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.path);
  }

  get(s: AuthSettings, now = Date.now()): IssuedToken | undefined {
    const e = this.#read().tokens[cacheKey(s)];
    if (!e || !e.token || !(Date.parse(e.expires_at) - MARGIN_MS > now)) return undefined;
    return { token: e.token, expiresAt: e.expires_at, catalog: e.catalog ?? [], userId: e.user_id, projectId: e.project_id };
  }

  put(s: AuthSettings, t: IssuedToken, now = Date.now()): void {
    const doc = this.#read();
    for (const [k, e] of Object.entries(doc.tokens)) if (!(Date.parse(e.expires_at) > now)) delete doc.tokens[k];
    doc.tokens[cacheKey(s)] = { auth_url: s.authUrl ?? '', token: t.token, expires_at: t.expiresAt, catalog: t.catalog, user_id: t.userId, project_id: t.projectId };
    this.#write(doc);
  }

  forget(s: AuthSettings): void {
    const doc = this.#read();
    if (!(cacheKey(s) in doc.tokens)) return;
    delete doc.tokens[cacheKey(s)];
    this.#write(doc);
  }
}
