// A driver for tests of the control plane only: it creates nothing, waits a configured time per
// step and reports made-up addresses from TEST-NET-1 (192.0.2.0/24, reserved for documentation).
// It is enabled only through [drivers] test_drivers and provides the image distro "fake-os", so no
// default configuration can select it. A cluster label `fake_fail_step=<step>` makes that step fail.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../conf/index.ts';
import type { NodeGroup, Operation, OperationKind } from '../../objects/models.ts';
import type { Driver, DriverTuple, HealthReport, Step, StepContext } from '../driver.ts';
import { engineContainers } from '../docker-engine/containers.ts';
import { engineImages } from '../docker-engine/images.ts';
import type { WorkloadAccess, Workloads } from '../workloads.ts';

export const FAKE_OS = 'fake-os';

export class FakeDriver implements Driver {
  readonly name = 'fake';
  readonly provides: readonly DriverTuple[] = [
    { server_type: 'vm', os: FAKE_OS, coe: 'swarm-mode' },
    { server_type: 'vm', os: FAKE_OS, coe: 'kubernetes' },
  ];
  readonly #delay: number;
  readonly #failLabel: string;

  constructor(conf: Config) {
    this.#delay = conf.fake_driver.step_delay_ms;
    this.#failLabel = conf.fake_driver.fail_on_label;
  }

  /**
   * It makes no nodes; a node a test records in the ledger is taken for one running a Docker
   * engine (containers and image loads then reach it, or fail as an unreachable node does).
   */
  workloads(access: WorkloadAccess): Workloads {
    return { containers: engineContainers(access), images: engineImages(access) };
  }

  #step(name: string, body: (ctx: StepContext) => void | Promise<void> = () => undefined): Step {
    return {
      name,
      run: async (ctx) => {
        await sleep(this.#delay, undefined, { signal: ctx.signal });
        if (ctx.cluster.labels[this.#failLabel] === name) throw new Error(`injected failure at step "${name}" (label ${this.#failLabel})`);
        await body(ctx);
      },
    };
  }

  /** One address per node, up to the 250 of TEST-NET-1 that it hands out: a node count of
   *  2^31 - 1 (which the API accepts) must not make a list of that length. */
  #addresses(ng: Pick<NodeGroup, 'id' | 'node_count'>): string[] {
    return Array.from({ length: Math.min(ng.node_count, 250) }, (_, i) => `192.0.2.${(ng.id * 16 + i) % 250 + 1}`);
  }

  #scale(ctx: StepContext, uuid: string) {
    const ng = ctx.nodegroups.find((n) => n.uuid === uuid);
    if (ng) ctx.setNodeGroup(uuid, { node_addresses: this.#addresses(ng) });
  }

  steps(kind: OperationKind, op: Operation): Step[] {
    const ngParam = String(op.params.nodegroup ?? op.nodegroup_id ?? '');
    switch (kind) {
      case 'cluster_create':
        return [
          this.#step('create network'),
          this.#step('boot masters', (ctx) => {
            for (const ng of ctx.nodegroups) if (ng.role === 'master') ctx.setNodeGroup(ng.uuid, { node_addresses: this.#addresses(ng), stack_id: ctx.cluster.uuid });
          }),
          this.#step('boot workers', (ctx) => {
            for (const ng of ctx.nodegroups) if (ng.role !== 'master') ctx.setNodeGroup(ng.uuid, { node_addresses: this.#addresses(ng), stack_id: ctx.cluster.uuid });
          }),
          this.#step('publish api', (ctx) => {
            const port = ctx.template.coe === 'kubernetes' ? 6443 : 2376;
            const scheme = ctx.template.coe === 'kubernetes' ? 'https' : 'tcp';
            ctx.setCluster({ api_address: `${scheme}://192.0.2.250:${port}`, stack_id: ctx.cluster.uuid, coe_version: 'fake', container_version: 'fake' });
          }),
        ];
      case 'cluster_update':
      case 'cluster_resize':
        return [this.#step('scale nodegroup', (ctx) => this.#scale(ctx, ngParam))];
      case 'cluster_upgrade':
        return [this.#step('upgrade nodes')];
      case 'cluster_delete':
        return [this.#step('delete nodes'), this.#step('delete network')];
      case 'nodegroup_create':
        return [this.#step('boot nodegroup nodes', (ctx) => {
          this.#scale(ctx, ngParam);
          ctx.setNodeGroup(ngParam, { stack_id: ngParam });
        })];
      case 'nodegroup_update':
        return [];
      case 'nodegroup_delete':
        return [this.#step('delete nodegroup nodes')];
      case 'cluster_heal':
        return [this.#step('restart failed nodes')];
      case 'rotate_ca':
        // The conductor's certificates are real; there are no nodes to give new ones to.
        return [this.#step('rotate ca', async (ctx) => {
          if (!ctx.pki) throw new Error('the conductor has no certificate store');
          if (!ctx.state.rotated) await ctx.pki.rotate();
          ctx.state.rotated = true;
        })];
    }
  }

  async health(): Promise<HealthReport> {
    return { status: 'HEALTHY', reason: { api: 'ok' } };
  }
}
