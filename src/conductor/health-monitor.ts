// Health polling of running clusters (Magnum's sync_cluster_health_status): the driver's report
// goes into health_status and health_status_reason, its changes into the cluster's timeline (the
// cluster's status, and each node that stops or starts being Ready), and a cluster that stays
// UNHEALTHY past the grace period is auto-healed when its label asks for it.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../conf/index.ts';
import type { Storage } from '../db/api.ts';
import type { HealthReport } from '../drivers/driver.ts';
import type { DriverRegistry } from '../drivers/registry.ts';
import type { Cluster, ClusterResource, ClusterTemplate, NodeGroup } from '../objects/models.ts';
import { CLUSTER_STATUSES, UPDATE_ALLOWED } from '../objects/fields.ts';

/**
 * Clusters whose health is polled: every stable state, failed ones too (an UPDATE_FAILED cluster
 * still runs its nodes). Not while an operation is in progress: the operation owns the cluster's
 * nodes then (Magnum polls CREATE_COMPLETE, UPDATE_COMPLETE, UPDATE_IN_PROGRESS and
 * ROLLBACK_IN_PROGRESS).
 */
export const POLLED_STATUSES = CLUSTER_STATUSES.filter((s) => !s.endsWith('_IN_PROGRESS') && s !== 'DELETE_COMPLETE');

const READY = '.Ready';
/** Clusters read at a time by a health poll: what a conductor holds in memory, whatever their number. */
const POLL_PAGE = 500;

/** A page of clusters to poll with what their drivers read, fetched in one query each. */
interface PollPage {
  clusters: Cluster[];
  templates: Map<string, ClusterTemplate>;
  nodegroups: Map<string, NodeGroup[]>;
  resources: Map<string, ClusterResource[]>;
}

const byCluster = <T extends { cluster_id: string }>(rows: T[]): Map<string, T[]> => {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const list = out.get(r.cluster_id);
    if (list) list.push(r);
    else out.set(r.cluster_id, [r]);
  }
  return out;
};

/**
 * The timeline entries of one health change: the cluster's status, then every node whose
 * `<node>.Ready` left "True" or came back to it. A node the previous report did not name (a new
 * one, or the first report) and a node the new one does not name (removed) are not news.
 */
export function healthEvents(before: { status: string | null; reason: Record<string, string> | null }, after: HealthReport): string[] {
  const out: string[] = [];
  if (after.status !== before.status) out.push(`Health ${before.status ?? 'unknown'} -> ${after.status}: ${JSON.stringify(after.reason)}`);
  const prev = before.reason ?? {};
  for (const [key, now] of Object.entries(after.reason)) {
    if (!key.endsWith(READY) || prev[key] === undefined || (prev[key] === 'True') === (now === 'True')) continue;
    const node = key.slice(0, -READY.length);
    out.push(now === 'True' ? `Node ${node} is Ready again` : `Node ${node} is not Ready: ${now}`);
  }
  return out;
}

export class HealthMonitor {
  readonly #storage: Storage;
  readonly #drivers: DriverRegistry;
  readonly #conf: Config;
  readonly #log: Logger | undefined;
  readonly #runOperation: (uuid: string) => void;
  /** When this conductor first saw each cluster UNHEALTHY, in a run of polls that all did. */
  readonly #unhealthySince = new Map<string, number>();
  #polling = false;

  constructor(opts: { storage: Storage; drivers: DriverRegistry; conf: Config; logger?: Logger; runOperation: (uuid: string) => void }) {
    this.#storage = opts.storage;
    this.#drivers = opts.drivers;
    this.#conf = opts.conf;
    this.#log = opts.logger;
    this.#runOperation = opts.runOperation;
  }

  /**
   * Polls running clusters (all, or the given ones); a poll of all while one runs is skipped.
   * Every cluster in POLLED_STATUSES is covered, in pages of POLL_PAGE read in id order (the next
   * page is read while this one is polled), [conductor] health_poll_concurrency at a time. Returns
   * how many clusters were polled.
   */
  async poll(only?: string[]): Promise<number> {
    if (!only && this.#polling) return 0;
    if (!only) this.#polling = true;
    const started = Date.now();
    let polled = 0;
    try {
      if (only) {
        const clusters = (await Promise.all(only.map((u) => this.#storage.getClusterByUuid(u))))
          .filter((c): c is Cluster => c !== null && POLLED_STATUSES.includes(c.status as (typeof POLLED_STATUSES)[number]));
        return await this.#pollPage(await this.#withDetails(clusters));
      }
      let next = this.#page(0);
      for (;;) {
        const page = await next;
        if (!page.clusters.length) break;
        const last = page.clusters[page.clusters.length - 1].id;
        next = page.clusters.length < POLL_PAGE ? Promise.resolve(this.#emptyPage()) : this.#page(last);
        // Awaited at the next turn; a failure meanwhile is not an unhandled rejection.
        next.catch(() => undefined);
        polled += await this.#pollPage(page);
      }
      const seconds = (Date.now() - started) / 1000;
      const interval = this.#conf.kubernetes.health_polling_interval;
      if (seconds > interval) this.#log?.warn({ clusters: polled, seconds, interval }, 'a health poll of every cluster took longer than [kubernetes] health_polling_interval; raise [conductor] health_poll_concurrency');
      return polled;
    } finally {
      if (!only) this.#polling = false;
    }
  }

  #emptyPage(): PollPage {
    return { clusters: [], templates: new Map(), nodegroups: new Map(), resources: new Map() };
  }

  async #page(afterId: number): Promise<PollPage> {
    return this.#withDetails(await this.#storage.listClustersInStatus(POLLED_STATUSES, POLL_PAGE, afterId));
  }

  /** The templates, nodegroups and resources of these clusters: three queries, none per cluster. */
  async #withDetails(clusters: Cluster[]): Promise<PollPage> {
    if (!clusters.length) return this.#emptyPage();
    const uuids = clusters.map((c) => c.uuid);
    const [templates, nodegroups, resources] = await Promise.all([
      this.#storage.getClusterTemplatesByUuids([...new Set(clusters.map((c) => c.cluster_template_id ?? ''))]),
      this.#storage.listNodeGroupsOf(uuids),
      this.#storage.listResourcesOf(uuids),
    ]);
    return { clusters, templates: new Map(templates.map((t) => [t.uuid, t])), nodegroups: byCluster(nodegroups), resources: byCluster(resources) };
  }

  /** The page's clusters, health_poll_concurrency at a time; one cluster's failure is logged and stops nothing. */
  async #pollPage(page: PollPage): Promise<number> {
    let i = 0;
    const worker = async () => {
      while (i < page.clusters.length) {
        const c = page.clusters[i++];
        try {
          await this.#pollOne(c, page);
        } catch (err) {
          this.#log?.warn({ err, cluster: c.uuid }, 'health poll failed');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#conf.conductor.health_poll_concurrency, page.clusters.length) }, worker));
    return page.clusters.length;
  }

  async #pollOne(c: Cluster, page: PollPage): Promise<void> {
    const template = page.templates.get(c.cluster_template_id ?? '');
    if (!template) return;
    const driver = this.#drivers.find(template.server_type ?? 'vm', template.cluster_distro, template.coe ?? '');
    if (!driver?.health) return;
    const report = await driver.health(c, page.nodegroups.get(c.uuid) ?? [], page.resources.get(c.uuid) ?? []);
    if (report.infrastructureUnavailable) this.#log?.warn({ cluster: c.uuid, cause: report.infrastructureUnavailable }, 'the infrastructure of the cluster does not answer');
    if (report.status !== c.health_status || JSON.stringify(report.reason) !== JSON.stringify(c.health_status_reason)) {
      // Several conductors poll the same cluster: the one whose conditional write lands records the change.
      const won = await this.#storage.setClusterHealth(c.uuid, c, { health_status: report.status, health_status_reason: report.reason });
      if (won) for (const message of healthEvents({ status: c.health_status, reason: c.health_status_reason }, report)) {
        await this.#storage.appendEvent({ cluster_id: c.uuid, operation_id: null, step: 'health', outcome: 'info', message });
      }
    }
    await this.#maybeHeal(c, report);
  }

  /**
   * Auto-healing once the cluster has been UNHEALTHY for the grace period on every poll: nodes
   * that come back by themselves (the host's engine restarting) are not replaced. While the
   * infrastructure does not answer nothing is started (an operation could only fail) and the
   * grace period starts again when it answers.
   */
  async #maybeHeal(c: Cluster, report: HealthReport): Promise<void> {
    if (report.status !== 'UNHEALTHY' || report.infrastructureUnavailable) {
      this.#unhealthySince.delete(c.uuid);
      return;
    }
    if (String(c.labels.auto_healing_enabled ?? '').toLowerCase() !== 'true') return;
    const since = this.#unhealthySince.get(c.uuid) ?? Date.now();
    this.#unhealthySince.set(c.uuid, since);
    if (Date.now() - since < this.#conf.conductor.auto_healing_grace_period * 1000) return;
    this.#unhealthySince.delete(c.uuid);
    await this.#heal(c);
  }

  /** An operation that brings back the nodes that are gone, like any other. */
  async #heal(c: Pick<Cluster, 'uuid'>): Promise<void> {
    const uuid = randomUUID();
    const ok = await this.#storage.startOperation({
      clusterUuid: c.uuid,
      allowed: UPDATE_ALLOWED,
      clusterStatus: 'UPDATE_IN_PROGRESS',
      operation: { uuid, cluster_id: c.uuid, nodegroup_id: null, kind: 'cluster_heal', params: {}, deadline_at: new Date(Date.now() + this.#conf.conductor.default_operation_timeout * 60_000), request_id: null },
    });
    if (!ok) return;
    await this.#storage.appendEvent({ cluster_id: c.uuid, operation_id: uuid, step: 'cluster_heal', outcome: 'info', message: 'Auto-healing: replacing nodes that are down.' });
    this.#runOperation(uuid);
  }
}
