// Runs one operation under a lease: claim it, resume after the last finished step, renew the
// lease while working, save each step, end COMPLETE or FAILED with a reason that names the step.
// A conductor killed mid-operation leaves a lease that runs out; another conductor's sweep claims
// the operation and continues from the saved step (steps are idempotent).
import type { Logger } from 'pino';
import type { Config } from '../conf/index.ts';
import type { Storage } from '../db/api.ts';
import type { DriverRegistry } from '../drivers/registry.ts';
import type { ClusterPki, Ledger, StepContext } from '../drivers/driver.ts';
import type { Cluster, ClusterTemplate, NodeGroup, Operation } from '../objects/models.ts';
import { clusterAddresses } from './addresses.ts';
import { operationSteps } from './cluster-steps.ts';
import { completion, failure, type Finish } from './outcome.ts';

/** Builds the certificate access of one cluster (null only for a runner without a certificate store). */
export type PkiFactory = (cluster: Cluster, template: ClusterTemplate) => ClusterPki | null;

class LeaseLost extends Error {}
class DeadlinePassed extends Error {}

const VERB: Record<string, string> = {
  cluster_create: 'Cluster create', cluster_update: 'Cluster update', cluster_resize: 'Cluster resize',
  cluster_upgrade: 'Cluster upgrade', cluster_delete: 'Cluster delete', nodegroup_create: 'Nodegroup create',
  nodegroup_update: 'Nodegroup update', nodegroup_delete: 'Nodegroup delete', rotate_ca: 'CA rotation',
  cluster_heal: 'Auto-healing',
};

export class OperationRunner {
  readonly #storage: Storage;
  readonly #drivers: DriverRegistry;
  readonly #owner: string;
  readonly #leaseMs: number;
  readonly #log: Logger | undefined;
  readonly #running = new Map<string, Promise<void>>();
  readonly #pki: PkiFactory;
  readonly #onComplete: (clusterUuid: string) => void;

  constructor(opts: { storage: Storage; drivers: DriverRegistry; conf: Config; owner: string; logger?: Logger; pki?: PkiFactory; onComplete?: (clusterUuid: string) => void }) {
    this.#pki = opts.pki ?? (() => null);
    this.#onComplete = opts.onComplete ?? (() => undefined);
    this.#storage = opts.storage;
    this.#drivers = opts.drivers;
    this.#owner = opts.owner;
    this.#leaseMs = opts.conf.conductor.operation_lease * 1000;
    this.#log = opts.logger;
  }

  get owner() {
    return this.#owner;
  }

  get active(): number {
    return this.#running.size;
  }

  /** Claim and run; resolves when done (or at once if another conductor holds it). */
  run(uuid: string): Promise<void> {
    const existing = this.#running.get(uuid);
    if (existing) return existing;
    const p = this.#run(uuid).finally(() => this.#running.delete(uuid));
    this.#running.set(uuid, p);
    return p;
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.#running.values()]);
  }

  async #run(uuid: string): Promise<void> {
    const now = new Date();
    if (!(await this.#storage.claimOperation(uuid, this.#owner, new Date(now.getTime() + this.#leaseMs), now))) return;
    const op = await this.#storage.getOperation(uuid);
    if (!op) return;
    const cluster = await this.#storage.getClusterByUuid(op.cluster_id);
    if (!cluster) {
      await this.#storage.finishOperation({ uuid, owner: this.#owner, state: 'failed', error: 'The cluster no longer exists.' });
      return;
    }
    const resumed = op.attempts > 1;
    const abort = new AbortController();
    const msLeft = op.deadline_at.getTime() - Date.now();
    const deadlineTimer = setTimeout(() => abort.abort(new DeadlinePassed()), Math.max(0, msLeft));
    const renew = setInterval(() => {
      void this.#storage.renewLease(uuid, this.#owner, new Date(Date.now() + this.#leaseMs)).then(
        (ok) => { if (!ok) abort.abort(new LeaseLost()); },
        () => undefined, // a database blip: the next renewal tries again
      );
    }, Math.max(200, Math.floor(this.#leaseMs / 3)));
    let currentStep = op.step ?? 'start';
    let ngs: NodeGroup[] = await this.#storage.listNodeGroupsOf([cluster.uuid]);
    let liveCluster: Cluster = cluster;
    try {
      const template = await this.#storage.getClusterTemplateByUuid(cluster.cluster_template_id ?? '');
      if (!template) throw new Error(`its cluster template ${cluster.cluster_template_id} no longer exists`);
      const target = op.kind === 'cluster_upgrade' ? await this.#storage.getClusterTemplateByUuid(String(op.params.cluster_template)) : null;
      const driver = this.#drivers.forTemplate(template);
      if (op.kind === 'cluster_delete') await this.#waitForSuperseded(op, abort.signal);
      const steps = operationSteps(op.kind, driver.steps(op.kind, op));
      const ledger = this.#ledger(cluster.uuid);
      const pki = this.#pki(cluster, template);
      const addresses = clusterAddresses(this.#storage, cluster.uuid);
      const done = op.step ? steps.findIndex((s) => s.name === op.step) + 1 : 0;
      const state = { ...((op.params.state as Record<string, unknown> | undefined) ?? {}) };
      if (resumed) await this.#event(op, currentStep, 'info', `Resumed by ${this.#owner} (attempt ${op.attempts}).`);
      const force = op.kind === 'cluster_delete' && op.params.force === true;
      const forceErrors: string[] = [];
      for (const step of steps.slice(done)) {
        if (abort.signal.aborted) throw abort.signal.reason;
        currentStep = step.name;
        await this.#event(op, step.name, 'started', null);
        const clusterChanges: Partial<Cluster> = {};
        const ngChanges: Record<string, Partial<NodeGroup>> = {};
        const ctx: StepContext = {
          operation: op, cluster: liveCluster, template, nodegroups: ngs, targetTemplate: target, signal: abort.signal, state,
          setCluster: (c) => Object.assign(clusterChanges, c),
          setNodeGroup: (id, c) => { ngChanges[id] = { ...ngChanges[id], ...c }; },
          note: (m) => void this.#event(op, step.name, 'info', m),
          ledger,
          pki,
          addresses,
        };
        try {
          await step.run(ctx);
        } catch (err) {
          if (!force || abort.signal.aborted) throw err;
          // A forced delete goes on past a failed step; what remains is reported below.
          forceErrors.push(`${step.name}: ${(err as Error).message}`);
          await this.#event(op, step.name, 'failed', `${(err as Error).message} (forced delete: going on)`);
        }
        if (!(await this.#storage.saveOperationStep(uuid, this.#owner, step.name, { ...op.params, state }))) throw new LeaseLost();
        if (Object.keys(clusterChanges).length) liveCluster = (await this.#storage.updateCluster(cluster.uuid, clusterChanges)) ?? liveCluster;
        for (const [id, c] of Object.entries(ngChanges)) await this.#storage.updateNodeGroup(id, c);
        if (Object.keys(ngChanges).length) ngs = await this.#storage.listNodeGroupsOf([cluster.uuid]);
        await this.#event(op, step.name, 'succeeded', null);
      }
      if (op.kind === 'cluster_delete') {
        const left = await ledger.list();
        const what = left.map((r) => `${r.kind} ${r.name}`).join(', ');
        if (left.length && !force) throw new Error(`resources are left that could not be removed: ${what}`);
        if (force && (left.length || forceErrors.length)) {
          this.#log?.warn({ cluster: cluster.uuid, left: what, errors: forceErrors }, 'forced delete: the cluster is removed, these resources could not be');
        }
      }
      await this.#finish(op, 'complete', null, completion(op, liveCluster, ngs, target));
      await this.#event(op, op.kind, 'succeeded', `${VERB[op.kind]} finished.`);
      if (op.kind !== 'cluster_delete') this.#onComplete(cluster.uuid);
    } catch (err) {
      if (err instanceof LeaseLost || abort.signal.reason instanceof LeaseLost) {
        this.#log?.warn({ operation: uuid }, 'lost the lease of an operation; another conductor or a delete took it over');
        await this.#storage.releaseOperation(uuid, this.#owner).catch(() => undefined);
        return;
      }
      const reason = abort.signal.reason instanceof DeadlinePassed || err instanceof DeadlinePassed
        ? `${VERB[op.kind]} did not finish before its deadline (${op.deadline_at.toISOString()}); it stopped at step "${currentStep}".`
        : `${VERB[op.kind]} failed at step "${currentStep}": ${(err as Error).message ?? String(err)}`;
      this.#log?.warn({ operation: uuid, step: currentStep, err }, 'operation failed');
      await this.#finish(op, 'failed', reason, failure(op, liveCluster, ngs, reason)).catch((e) => this.#log?.error({ err: e }, 'could not record a failure'));
      await this.#event(op, currentStep, 'failed', reason).catch(() => undefined);
    } finally {
      clearTimeout(deadlineTimer);
      clearInterval(renew);
    }
  }

  async #finish(op: Operation, state: 'complete' | 'failed', error: string | null, f: Finish) {
    const ok = await this.#storage.finishOperation({ uuid: op.uuid, owner: this.#owner, state, error, ...f });
    if (!ok) throw new LeaseLost();
  }

  #ledger(clusterUuid: string): Ledger {
    const st = this.#storage;
    return {
      intend: (kind, name, details) => st.intendResource(clusterUuid, kind, name, details),
      present: (kind, name, externalId, details) => st.markResource(clusterUuid, kind, name, 'present', externalId, details),
      removed: (kind, name) => st.markResource(clusterUuid, kind, name, 'removed'),
      list: () => st.listResources(clusterUuid),
    };
  }

  /** A delete waits until an operation it superseded has stopped touching the cluster. */
  async #waitForSuperseded(op: Operation, signal: AbortSignal): Promise<void> {
    const until = Date.now() + this.#leaseMs + 1000;
    while (Date.now() < until && !signal.aborted) {
      const others = (await this.#storage.listOperations(op.cluster_id)).filter(
        (o) => o.uuid !== op.uuid && o.owner !== null && o.lease_expires_at !== null && o.lease_expires_at.getTime() > Date.now(),
      );
      if (!others.length) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  #event(op: Operation, step: string, outcome: 'started' | 'succeeded' | 'failed' | 'info', message: string | null) {
    return this.#storage.appendEvent({ cluster_id: op.cluster_id, operation_id: op.uuid, step, outcome, message });
  }

  /**
   * Fail an operation whose deadline passed while nobody (alive) held it. Used by the sweep.
   */
  async expire(op: Operation): Promise<boolean> {
    const cluster = await this.#storage.getClusterByUuid(op.cluster_id);
    const reason = `${VERB[op.kind]} did not finish before its deadline (${op.deadline_at.toISOString()}); the conductor running it stopped at step "${op.step ?? 'start'}" and no conductor could finish it in time.`;
    if (!cluster) return this.#storage.finishOperation({ uuid: op.uuid, owner: null, state: 'failed', error: reason });
    const ngs = await this.#storage.listNodeGroupsOf([cluster.uuid]);
    const ok = await this.#storage.finishOperation({ uuid: op.uuid, owner: null, state: 'failed', error: reason, ...failure(op, cluster, ngs, reason) });
    if (ok) await this.#event(op, op.step ?? op.kind, 'failed', reason);
    return ok;
  }
}
