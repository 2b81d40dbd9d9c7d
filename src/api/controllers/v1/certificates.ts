import { E } from '../../../common/errors.ts';
import type { ApiDeps, Router } from '../../app.ts';
import { resourceLinks } from '../../common.ts';
import { Body, NoQuery, Params, Query, W } from '../../request-schemas.ts';
import { CertificateShown, CertificateSigned, ClusterUuid } from '../../schemas.ts';
import { findCluster, projectScope } from './lookup.ts';

const s255 = () => W.str({ min: 1, max: 255 });
/** A certificate signing request: the cluster (cluster_uuid, or the legacy bay_uuid) and the CSR. */
export const CertificateCreate = Body('certificate', {
  cluster_uuid: s255(),
  bay_uuid: s255(),
  csr: W.str({ min: 1 }),
  ca_cert_type: s255(),
  pem: W.readonly(),
  links: W.readonly(),
  created_at: W.readonly(),
  updated_at: W.readonly(),
});
const ShowQuery = Query({ ca_cert_type: W.str() }, { singleValued: true });
const tags = ['certificates'];
const cluster = Params('cluster');

export function registerCertificates(router: Router, deps: ApiDeps): void {
  const { storage, policy } = deps;
  const links = (host: string, uuid: string) => resourceLinks(host, `certificates/${uuid}`);

  router.get('/v1/certificates/:cluster', async (r) => {
    r.checkQuery();
    // Magnum's certificate controller never switches admins to all projects.
    const c = await findCluster(storage, projectScope(r.ctx), r.params.cluster);
    policy.enforce(r.ctx, 'certificate:get', { ...c });
    const caType = r.query.ca_cert_type === undefined ? null : String(r.query.ca_cert_type);
    const cert = await deps.conductor.getCaCertificate(r.ctx, c, caType);
    return { status: 200, body: { cluster_uuid: c.uuid, bay_uuid: c.uuid, pem: cert.pem, links: links(r.host, c.uuid) } };
  }, { summary: "A cluster's CA certificate (ca_cert_type: which CA)", tags, params: cluster, querystring: ShowQuery, response: { 200: CertificateShown } });

  router.post('/v1/certificates', async (r) => {
    r.checkQuery();
    const input = r.body();
    const ident = (input.cluster_uuid ?? input.bay_uuid) as string | null | undefined;
    if (!ident) throw E.InvalidInput('cluster_uuid', null, 'Mandatory field missing.');
    if (!input.csr) throw E.InvalidInput('csr', null, 'Mandatory field missing.');
    let c;
    try {
      c = await findCluster(storage, projectScope(r.ctx), ident);
    } catch (e) {
      if ((e as { code?: string }).code === 'ClusterNotFound') throw E.InvalidParameterValue(`Cluster ${ident} could not be found.`);
      throw e;
    }
    policy.enforce(r.ctx, 'certificate:create', { ...c });
    const caType = (input.ca_cert_type as string | null | undefined) ?? null;
    const cert = await deps.conductor.signCertificate(r.ctx, c, String(input.csr), caType);
    const body: Record<string, unknown> = { cluster_uuid: c.uuid, bay_uuid: c.uuid, csr: input.csr, pem: cert.pem, links: links(r.host, c.uuid) };
    if (caType !== null) body.ca_cert_type = caType;
    return { status: 201, body };
  }, { summary: "Sign a certificate with a cluster's CA", tags, querystring: NoQuery, body: CertificateCreate, response: { 201: CertificateSigned } });

  router.patch('/v1/certificates/:cluster', async (r) => {
    r.checkQuery();
    const c = await findCluster(storage, projectScope(r.ctx), r.params.cluster);
    policy.enforce(r.ctx, 'certificate:rotate_ca', { ...c });
    const template = await storage.getClusterTemplateByUuid(c.cluster_template_id ?? '');
    if (template?.tls_disabled) throw E.NotSupported('Rotating the CA certificate on a non-TLS cluster is not supported');
    if (!c.ca_cert_ref) throw E.NotSupported("'rotate_ca_certificate' is not supported by this driver.");
    await deps.conductor.rotateCa(r.ctx, c);
    return { status: 202, body: { uuid: c.uuid } };
  }, { summary: "Rotate a cluster's CA", tags, params: cluster, querystring: NoQuery, response: { 202: ClusterUuid } });
}
