// The conductor process: consumes the RPC topic, runs operations, and runs the periodic tasks
// (sweep of orphaned and overdue operations, health polling, the magnum_service heartbeat).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { E } from '../common/errors.ts';
import type { Config } from '../conf/index.ts';
import type { Storage } from '../db/api.ts';
import type { DriverRegistry } from '../drivers/registry.ts';
import type { RpcServer, RpcTransport } from '../rpc/transport.ts';
import { RUN_OPERATION, RUN_OPERATIONS } from './api.ts';
import { Slots } from '../common/slots.ts';
import { OperationRunner } from './operation-runner.ts';
import { pkiFactory } from './pki.ts';
import { ClientCredentialFiles } from './credential-files.ts';
import { HealthMonitor } from './health-monitor.ts';
import type { MethodDeps, RpcMethods } from './rpc-methods.ts';
import { TaskOperations } from './tasks.ts';
import { ClusterCertificates } from '../cert/cert-manager.ts';
import { isDatabaseUnavailable, unavailableReason } from '../db/errors.ts';

export const BINARY = 'magnum-conductor';

export class ConductorService {
  readonly #conf: Config;
  readonly #storage: Storage;
  readonly #transport: RpcTransport;
  readonly #drivers: DriverRegistry;
  readonly #log: Logger | undefined;
  readonly runner: OperationRunner;
  #server: RpcServer | null = null;
  #timers: NodeJS.Timeout[] = [];
  #sweeping = false;
  readonly #certs: ClusterCertificates;
  readonly #methods: RpcMethods;
  readonly #credentialFiles: ClientCredentialFiles;
  readonly #health: HealthMonitor;
  #stopped = false;
  /** What the feature modules behind `methods` release at stop (listeners, timers). */
  readonly #onStop: (() => Promise<void>) | undefined;
  /** The operations woken by messages run in these (the prefetch bounds messages, and a message may carry several). */
  readonly #slots: Slots;

  /** Lease renewals and the heartbeat: on a connection of their own where the process has one. */
  readonly #leases: Pick<Storage, 'renewLeases' | 'reportServiceUp'>;

  constructor(opts: { conf: Config; storage: Storage; leases?: Pick<Storage, 'renewLeases' | 'reportServiceUp'>; transport: RpcTransport; drivers: DriverRegistry; logger?: Logger; methods?: (deps: MethodDeps) => RpcMethods; onStop?: () => Promise<void> }) {
    this.#conf = opts.conf;
    this.#storage = opts.storage;
    this.#leases = opts.leases ?? opts.storage;
    this.#transport = opts.transport;
    this.#drivers = opts.drivers;
    this.#log = opts.logger;
    const owner = `${opts.conf.DEFAULT.host}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.#certs = ClusterCertificates.fromConfig(opts.conf, opts.storage);
    const credentialFiles = new ClientCredentialFiles({ storage: opts.storage, certs: this.#certs, cacheDir: ClientCredentialFiles.cacheDirFor(opts.conf.database.connection) });
    this.#credentialFiles = credentialFiles;
    const tasks = new TaskOperations(opts.storage);
    const deps = { conf: opts.conf, storage: opts.storage, credentialFiles, tasks, logger: opts.logger };
    this.#methods = { ...(opts.methods?.(deps) ?? {}) };
    this.#onStop = opts.onStop;
    this.#slots = new Slots(opts.conf.conductor.max_concurrent_operations);
    this.runner = new OperationRunner({ storage: opts.storage, leases: this.#leases, drivers: opts.drivers, conf: opts.conf, owner, logger: opts.logger, pki: pkiFactory(opts.storage, this.#certs, { forgetCredentials: (uuid) => credentialFiles.forget(uuid) }), onComplete: (uuid) => void this.pollHealth([uuid]).catch(() => undefined), tasks: tasks.handlers });
    tasks.attach(this.runner);
    this.#health = new HealthMonitor({ storage: opts.storage, drivers: opts.drivers, conf: opts.conf, logger: opts.logger, runOperation: (uuid) => void this.#slots.run(() => this.runner.run(uuid)) });
  }

  async start(): Promise<void> {
    const c = this.#conf;
    this.#server = await this.#transport.serve((req) => this.#handle(req.method, req.args, req.context), {
      topic: c.conductor.topic,
      concurrency: c.conductor.max_concurrent_operations,
    });
    await this.#heartbeat();
    if (c.DEFAULT.periodic_enable) {
      void this.sweep().catch((err: unknown) => this.#periodicFailed('sweep', err));
      this.#every(c.conductor.sweep_interval * 1000, () => this.sweep(), 'sweep');
      this.#every(c.DEFAULT.periodic_interval_max * 1000, () => this.#heartbeat(), 'heartbeat');
      // Health at once too (as Magnum's run_immediately): after a restart or a reboot of this host,
      // clusters whose nodes went down or came back meanwhile are seen now, not a period later.
      void this.pollHealth().catch((err: unknown) => this.#periodicFailed('health polling', err));
      this.#every(c.kubernetes.health_polling_interval * 1000, () => this.pollHealth(), 'health polling');
      // Cached client keys of clusters deleted by another conductor host (or while this one was down).
      void this.#credentialFiles.prune().catch((err) => this.#log?.warn({ err }, 'pruning cached cluster credentials failed'));
      this.#every(c.kubernetes.health_polling_interval * 1000, () => this.#credentialFiles.prune());
    }
    this.#log?.info({ owner: this.runner.owner, drivers: this.#drivers.names }, 'conductor started');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.#server?.stop();
    await this.runner.drain();
    await this.#onStop?.();
  }

  #every(ms: number, fn: () => Promise<void>, name = 'periodic task') {
    const t = setInterval(() => void fn().catch((err: unknown) => this.#periodicFailed(name, err)), ms);
    t.unref();
    this.#timers.push(t);
  }

  /** A periodic task that failed is tried again at its next turn; a database outage is no bug. */
  #periodicFailed(task: string, err: unknown): void {
    if (isDatabaseUnavailable(err)) this.#log?.warn({ task, reason: unavailableReason(err) }, 'periodic task skipped: database unavailable');
    else this.#log?.error({ task, err }, 'periodic task failed');
  }

  async #heartbeat(): Promise<void> {
    await this.#leases.reportServiceUp(this.#conf.DEFAULT.host!, BINARY);
  }

  async #handle(method: string, args: Record<string, unknown>, context: Record<string, unknown>): Promise<unknown> {
    const extra = this.#methods[method];
    if (extra) return extra(args, context);
    switch (method) {
      case RUN_OPERATION:
        await this.#slots.run(() => this.runner.run(String(args.operation)));
        return null;
      case RUN_OPERATIONS: {
        // A batch of new operations (the API's group commit of creates): each runs as soon as one
        // of this conductor's max_concurrent_operations slots is free; the message is acknowledged
        // when all have ended (a redelivery after a crash finds the finished ones done).
        const ops = Array.isArray(args.operations) ? args.operations.map(String) : [];
        await Promise.all(ops.map((uuid) => this.#slots.run(() => this.runner.run(uuid))));
        return null;
      }
      case 'get_ca_certificate':
      case 'sign_certificate': {
        const cluster = await this.#storage.getClusterByUuid(String(args.cluster));
        if (!cluster) throw E.ClusterNotFound(String(args.cluster));
        if (!cluster.ca_cert_ref) throw E.NotSupported(`Cluster ${cluster.name ?? cluster.uuid} has no certificate authority (yet, or because its driver or template uses none).`);
        const caType = (args.ca_cert_type as string | null) ?? null;
        if (method === 'get_ca_certificate') return { cluster_uuid: cluster.uuid, pem: (await this.#certs.getCa(cluster, caType)).trimEnd() };
        return { cluster_uuid: cluster.uuid, pem: await this.#certs.sign(cluster, args.csr, caType) };
      }
      case 'ping_conductor':
        return true;
      default:
        throw E.NotSupported(`RPC method ${method} is not supported.`);
    }
  }

  /** Take over operations whose holder died; fail those past their deadline. */
  async sweep(): Promise<void> {
    if (this.#sweeping || this.#stopped) return;
    this.#sweeping = true;
    try {
      const now = Date.now();
      const stale = await this.#storage.listStaleOperations(new Date(now));
      for (const op of stale) {
        const leaseLive = op.owner !== null && op.lease_expires_at !== null && op.lease_expires_at.getTime() > now;
        const overdue = op.deadline_at.getTime() <= now;
        if (overdue && !leaseLive) await this.runner.expire(op);
        else if (overdue && now - op.deadline_at.getTime() > 2 * this.#conf.conductor.operation_lease * 1000) await this.runner.expire(op);
        // Taken over in a free slot only: the slots bound what this conductor runs at once,
        // whether a message or the sweep brought it.
        else if (!leaseLive) this.#slots.tryRun(() => this.runner.run(op.uuid));
      }
    } finally {
      this.#sweeping = false;
    }
  }

  /** Health of running clusters (all, or the given ones), into health_status and its reason. */
  async pollHealth(only?: string[]): Promise<void> {
    await this.#health.poll(only);
  }
}
