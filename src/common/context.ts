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

/** A context for the conductor's own periodic work: admin, all projects. */
export function adminContext(requestId = 'req-conductor'): RequestContext {
  return makeContext({ requestId, userId: 'magnum-conductor', roles: ['admin'], isAdmin: true });
}
