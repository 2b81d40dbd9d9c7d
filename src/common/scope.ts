// The one rule for which projects a request may read and write.
//
// Every project-owned resource is read and written within exactly one project: the request's.
// Admin-wide views ("all projects") exist only where Magnum's policy grants them to an admin
// (the *_all_projects rules, quotas with all_tenants, stats), and only for a caller that has a
// project scope itself. A caller without a project (an unscoped or domain-scoped Keystone
// token) gets nothing: never "all projects". The storage refuses a scope that names no
// project (projectOf below), so a controller cannot widen a query by mistake.
import type { RequestContext } from './context.ts';
import { E } from './errors.ts';

export type Scope =
  | { readonly kind: 'project'; readonly projectId: string }
  | { readonly kind: 'all' };

const ALL: Scope = Object.freeze({ kind: 'all' });

/** Thrown when code (not a client) asks storage for a query without a valid scope. */
export class UnscopedQuery extends Error {
  constructor(scope: unknown) {
    super(`refused a project query without a project scope: ${JSON.stringify(scope)}`);
  }
}

/** The request's own project; 403 for a caller without one. */
export function projectScope(ctx: RequestContext): Scope {
  return { kind: 'project', projectId: requireProject(ctx) };
}

/**
 * All projects for an admin (the caller must have checked the *_all_projects policy rule or its
 * equivalent), else the caller's own project. A caller without a project gets 403 either way.
 */
export function adminWideScope(ctx: RequestContext): Scope {
  const projectId = requireProject(ctx);
  return ctx.isAdmin ? ALL : { kind: 'project', projectId };
}

/** The project of a resource the caller has already been allowed to see (e.g. a cluster's nodegroups). */
export function ownerScope(resource: { project_id: string | null }): Scope {
  if (!resource.project_id) throw new UnscopedQuery(resource.project_id);
  return { kind: 'project', projectId: resource.project_id };
}

/** The conductor's own periodic and lifecycle work, which acts on every project's clusters. */
export function conductorScope(): Scope {
  return ALL;
}

/** The request's project id; 403 in Magnum's error format when it has none. */
export function requireProject(ctx: RequestContext): string {
  const p = ctx.projectId;
  if (typeof p !== 'string' || p === '') throw E.ProjectScopeRequired();
  return p;
}

/** For storage: the project a query is limited to, or null for all projects; refuses anything else. */
export function projectOf(scope: Scope): string | null {
  if (scope && scope.kind === 'all') return null;
  if (scope && scope.kind === 'project' && typeof scope.projectId === 'string' && scope.projectId !== '') return scope.projectId;
  throw new UnscopedQuery(scope);
}
