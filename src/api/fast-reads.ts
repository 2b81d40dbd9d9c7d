// Which requests the API serves straight from node's HTTP server, ahead of Fastify's routing and
// hook chain (src/api/app.ts, serveFast): GETs of the routes declared `fast` (the read-cached
// ones: a cluster's show, the cluster and template lists), without a query string or a body.
// They get the same answer, headers and errors as through Fastify, for about a fifth less CPU
// (bench/api). Anything this table does not match as Fastify would (a query, a percent escape, a
// trailing slash or `.json`, a dot or a long value in a parameter, a path a static route owns)
// is left to Fastify.
import type { Route } from './app.ts';

export interface FastMatch { route: Route; params: Record<string, string> }

/** A parameter value taken here: the characters of uuids and of most names, no escapes or dots. */
const PLAIN_VALUE = /^[A-Za-z0-9_-]{1,255}$/;

export class FastReadRoutes {
  /** Static paths of fast routes. */
  readonly #static = new Map<string, Route>();
  /** Fast routes whose last segment is a parameter: the path before it, its name. */
  readonly #param: { prefix: string; name: string; route: Route }[] = [];
  /** Every static path of any route (a static route wins over a parameter in Fastify's router). */
  readonly #owned = new Set<string>();

  /** Every route the app has, in any method; the GETs declared `fast` are served here. */
  add(route: Route): void {
    const colon = route.path.indexOf(':');
    if (colon === -1) this.#owned.add(route.path);
    if (route.method !== 'GET' || !route.fast) return;
    if (colon === -1) {
      this.#static.set(route.path, route);
      return;
    }
    const prefix = route.path.slice(0, colon);
    const name = route.path.slice(colon + 1);
    if (!prefix.endsWith('/') || name.includes('/') || name.includes(':')) throw new Error(`${route.path}: a fast route's only parameter is its last segment`);
    this.#param.push({ prefix, name, route });
  }

  /** The route and parameters of a GET of `url`, when it is one served here. */
  match(url: string): FastMatch | undefined {
    if (url.includes('?') || url.includes('%')) return undefined;
    const route = this.#static.get(url);
    if (route) return { route, params: {} };
    if (this.#owned.has(url)) return undefined;
    for (const p of this.#param) {
      if (!url.startsWith(p.prefix)) continue;
      const value = url.slice(p.prefix.length);
      if (PLAIN_VALUE.test(value)) return { route: p.route, params: { [p.name]: value } };
    }
    return undefined;
  }
}
