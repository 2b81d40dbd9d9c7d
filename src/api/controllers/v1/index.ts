import type { ApiDeps, Router } from '../../app.ts';
import { NoQuery } from '../../request-schemas.ts';
import { V1 } from '../../schemas.ts';
import { registerBays } from './bays.ts';
import { registerCertificates } from './certificates.ts';
import { registerClusterTemplates } from './cluster-templates.ts';
import { registerClusterImages } from './cluster-images.ts';
import { registerClusters } from './clusters.ts';
import { registerContainers } from './containers.ts';
import { registerFederations } from './federations.ts';
import { registerMagnumServices } from './mservices.ts';
import { registerNodeGroups } from './nodegroups.ts';
import { registerQuotas } from './quotas.ts';
import { registerPods, registerServices } from './services.ts';
import { registerStats } from './stats.ts';

const RESOURCES = ['baymodels', 'bays', 'clustertemplates', 'clusters', 'quotas', 'certificates', 'mservices', 'stats', 'federations', 'containers', 'services', 'pods'];

export function registerV1(router: Router, deps: ApiDeps): void {
  router.get('/v1', async (r) => {
    const h = r.host;
    const body: Record<string, unknown> = {
      id: 'v1',
      media_types: [{ base: 'application/json', type: 'application/vnd.openstack.magnum.v1+json' }],
      links: [
        { href: `${h}/v1/`, rel: 'self' },
        { href: 'http://docs.openstack.org/developer/magnum/dev/api-spec-v1.html', rel: 'describedby', type: 'text/html' },
      ],
    };
    for (const res of RESOURCES) body[res] = [{ href: `${h}/v1/${res}/`, rel: 'self' }, { href: `${h}/${res}/`, rel: 'bookmark' }];
    body.nodegroups = [
      { href: `${h}/v1/clusters/{cluster_id}/nodegroups`, rel: 'self' },
      { href: `${h}/clusters/{cluster_id}/nodegroups`, rel: 'bookmark' },
    ];
    // As before, the query is not looked at.
    return { status: 200, body };
  }, { summary: 'The v1 API: its media types and resource links', tags: ['version'], querystring: NoQuery, response: { 200: V1 } });
  registerClusterTemplates(router, deps);
  registerClusterTemplates(router, deps, 'baymodels', { legacy: true });
  registerClusters(router, deps);
  registerBays(router, deps);
  registerNodeGroups(router, deps);
  registerQuotas(router, deps);
  registerStats(router, deps);
  registerMagnumServices(router, deps);
  registerCertificates(router, deps);
  registerFederations(router, deps);
  registerContainers(router, deps);
  registerClusterImages(router, deps);
  registerServices(router, deps);
  registerPods(router, deps);
}
