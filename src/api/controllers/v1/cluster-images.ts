// Our extension: images for clusters that reach no registry. POST /v1/clusters/{ident}/images
// loads an image archive from the conductor host's image directory ([docker] image_dir) into
// every node of the cluster and answers 202 at once; progress is in the cluster's timeline
// (GET /v1/clusters/{ident}/events, operation_id = the load's uuid) and summed up by
// GET /v1/clusters/{ident}/images/{load uuid}. GET /v1/clusters/{ident}/images lists each
// node's images. Swarm nodes' Docker engines get it by `docker load`, Kubernetes nodes' containerd
// by an import into the kubelet's namespace (the drivers say how: src/drivers/workloads.ts).
import { E } from '../../../common/errors.ts';
import type { ClusterEvent } from '../../../objects/models.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { isoTime } from '../../common.ts';
import { Body, NoQuery, Params, W, mandatory } from '../../request-schemas.ts';
import { ClusterImages, ImageLoad, ImageLoadAccepted } from '../../schemas.ts';
import { canonicalUuid, isUuidLike } from '../../validation.ts';
import { adminWideScope, findCluster } from './lookup.ts';

/** COEs whose drivers load images into their nodes. */
const IMAGE_COES = ['swarm', 'swarm-mode', 'kubernetes'];
const STEP = 'image_load';

/** An image load: the archive's name in the conductor's image directory. */
const ImageLoadRequest = Body('image_load', { file: mandatory(W.str({ min: 1, max: 255 })) }, ['file']);
const tags = ['clusters'];

export function registerClusterImages(router: Router, deps: ApiDeps): void {
  const { storage, policy, conf, conductor } = deps;

  const imageCluster = async (r: ApiRequest) => {
    const c = await findCluster(storage, adminWideScope(r.ctx), r.params.ident);
    const template = await storage.getClusterTemplateByUuid(c.cluster_template_id ?? '');
    return { c, loads: Boolean(template?.coe && IMAGE_COES.includes(template.coe)) };
  };

  router.post('/v1/clusters/:ident/images', async (r) => {
    r.checkQuery();
    const input = r.body();
    const file = input.file as string;
    if (file.startsWith('/') || file.split(/[\\/]/).includes('..') || file.includes('\0')) {
      throw E.InvalidInput('file', file, "Value should name a file in the conductor's image directory (a relative path without ..)");
    }
    const { c, loads } = await imageCluster(r);
    policy.enforce(r.ctx, 'cluster:load_image', { ...c });
    if (!loads) throw E.InvalidParameterValue(`Images can be loaded into swarm, swarm-mode and kubernetes clusters only; cluster ${c.name ?? c.uuid} is not one.`);
    const started = await conductor.imageLoad(r.ctx, c.uuid, file, 30_000);
    return {
      status: 202,
      body: { ...started, links: [{ href: `${r.host}/v1/clusters/${c.uuid}/images/${started.uuid}`, rel: 'self' }] },
    };
  }, { summary: "Load an image archive from the conductor's image directory into every node of a cluster", tags, params: Params('ident'), querystring: NoQuery, body: ImageLoadRequest, response: { 202: ImageLoadAccepted } });

  router.get('/v1/clusters/:ident/images', async (r) => {
    r.checkQuery();
    const { c, loads } = await imageCluster(r);
    policy.enforce(r.ctx, 'cluster:get', { ...c });
    if (!loads) throw E.InvalidParameterValue(`Cluster ${c.name ?? c.uuid} is not a swarm, swarm-mode or kubernetes cluster.`);
    const out = await conductor.imageList(r.ctx, c.uuid, 30_000);
    return { status: 200, body: { cluster_uuid: c.uuid, ...out } };
  }, { summary: "The images on each node of a cluster", tags, params: Params('ident'), querystring: NoQuery, response: { 200: ClusterImages } });

  router.get('/v1/clusters/:ident/images/:load', async (r) => {
    r.checkQuery();
    const { c } = await imageCluster(r);
    policy.enforce(r.ctx, 'cluster:get', { ...c });
    const id = r.params.load;
    if (!isUuidLike(id)) throw E.ResourceNotFound('image load', id);
    const uuid = canonicalUuid(id);
    const events: ClusterEvent[] = [];
    for (let afterId: number | undefined; ;) {
      const page = await storage.listEvents(c.uuid, { limit: conf.api.max_limit, afterId });
      events.push(...page.filter((e) => e.operation_id === uuid));
      if (page.length < conf.api.max_limit) break;
      afterId = page[page.length - 1].id;
    }
    // The load's row is the source of truth for its end (a sweep ends one whose conductor died).
    const load = await storage.getImageLoad(uuid);
    if (!events.length && (!load || load.cluster_id !== c.uuid)) throw E.ResourceNotFound('image load', id);
    const final = events.find((e) => e.step === STEP && (e.outcome === 'succeeded' || e.outcome === 'failed'));
    const ended = load && load.cluster_id === c.uuid && load.state !== 'running' ? load : null;
    const nodes: Record<string, { status: string; message: string | null }> = {};
    for (const e of events) {
      const m = /^image_load node (.+)$/.exec(e.step);
      if (m) nodes[m[1]] = { status: e.outcome === 'succeeded' ? 'COMPLETE' : 'FAILED', message: e.message };
    }
    return {
      status: 200,
      body: {
        uuid,
        cluster_uuid: c.uuid,
        status: final ? (final.outcome === 'succeeded' ? 'COMPLETE' : 'FAILED') : ended ? ended.state.toUpperCase() : 'IN_PROGRESS',
        status_reason: final?.message ?? ended?.last_error ?? null,
        nodes,
        events: events.map((e) => ({ id: e.id, step: e.step, outcome: e.outcome, message: e.message, created_at: isoTime(e.created_at) })),
      },
    };
  }, { summary: 'An image load: its status, each node\'s outcome and its timeline', tags, params: Params('ident', 'load'), querystring: NoQuery, response: { 200: ImageLoad } });
}
