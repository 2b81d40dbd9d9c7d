// Who is asking: built by the auth hook from a validated Keystone token (or the noauth headers),
// carried through the API, and sent with every RPC message so the conductor acts as the caller.

export interface RequestContext {
  readonly requestId: string;
  readonly authToken: string | null;
  readonly userId: string | null;
  readonly userName: string | null;
  readonly projectId: string | null;
  readonly projectName: string | null;
  readonly domainId: string | null;
  readonly domainName: string | null;
  readonly roles: readonly string[];
  readonly isAdmin: boolean;
}

export function makeContext(fields: Partial<RequestContext> & { requestId: string }): RequestContext {
  const roles = fields.roles ?? [];
  return Object.freeze({
    authToken: null,
    userId: null,
    userName: null,
    projectId: null,
    projectName: null,
    domainId: null,
    domainName: null,
    ...fields,
    roles,
    isAdmin: fields.isAdmin ?? roles.includes('admin'),
  });
}

/** Who a caller is: a context without its request's id and token. */
export type Identity = Omit<RequestContext, 'requestId' | 'authToken'>;

/**
 * The identity a context was made from by contextOf, when it was: the authenticators remember
 * one frozen identity per token (or per set of noauth headers), so what is derived from the
 * identity alone (the policy's credentials) is built once per identity instead of once per
 * request. A symbol property that is not enumerable: JSON (RPC messages), Object.keys, a spread
 * (a context made from another's fields with some changed) and deep equality do not see it.
 */
export const IDENTITY: unique symbol = Symbol('identity');

/** A request's context for a remembered, frozen identity. */
export function contextOf(who: Identity, requestId: string, authToken: string | null): RequestContext {
  const ctx: RequestContext = {
    requestId,
    authToken,
    userId: who.userId,
    userName: who.userName,
    projectId: who.projectId,
    projectName: who.projectName,
    domainId: who.domainId,
    domainName: who.domainName,
    roles: who.roles,
    isAdmin: who.isAdmin,
  };
  Object.defineProperty(ctx, IDENTITY, { value: who });
  return Object.freeze(ctx);
}

/** A context for the conductor's own periodic work: admin, all projects. */
export function adminContext(requestId = 'req-conductor'): RequestContext {
  return makeContext({ requestId, userId: 'magnum-conductor', roles: ['admin'], isAdmin: true });
}
