// Steps the conductor runs around every driver's own. As in Magnum, whose conductor makes a
// cluster's certificates before it picks a driver, every cluster gets its CA (and the etcd and
// front-proxy CAs) at create, whatever the driver or tls_disabled says: tls_disabled only means
// the cluster's endpoints do not require TLS. The delete removes them after the driver's steps.
import type { Step } from '../drivers/driver.ts';
import type { OperationKind } from '../objects/models.ts';

export const CREATE_CERTIFICATES = 'create certificates';
export const REMOVE_CERTIFICATES = 'remove certificates';

const createCertificates: Step = { name: CREATE_CERTIFICATES, run: async (ctx) => void (await ctx.pki?.ensure()) };
const removeCertificates: Step = { name: REMOVE_CERTIFICATES, run: async (ctx) => ctx.pki?.destroy() };

/** The operation's steps: the driver's, with the conductor's own before or after them. */
export function operationSteps(kind: OperationKind, driverSteps: readonly Step[]): Step[] {
  const own = driverSteps.filter((s) => s.name !== CREATE_CERTIFICATES && s.name !== REMOVE_CERTIFICATES);
  if (kind === 'cluster_create') return [createCertificates, ...own];
  if (kind === 'cluster_delete') return [...own, removeCertificates];
  return [...own];
}
