// The conductor process's composition: the lifecycle service plus the containers, images and
// services RPC methods.
import { setKeyThreads } from '../cert/x509.ts';
import type { Logger } from 'pino';
import type { Config } from '../conf/index.ts';
import { containerMethods } from '../conductor/containers.ts';
import { ImageService, imageMethods } from '../conductor/images.ts';
import { ConductorService } from '../conductor/service.ts';
import { WorkloadService } from '../conductor/workloads.ts';
import type { SqlStorage } from '../db/sql/storage.ts';
import { DriverRegistry } from '../drivers/registry.ts';
import { DockerProvider } from '../infra/docker/provider.ts';
import type { RpcTransport } from '../rpc/transport.ts';
import { storageFromConfig } from './common.ts';

export function buildConductor(opts: { conf: Config; storage: SqlStorage; transport: RpcTransport; logger: Logger; drivers?: DriverRegistry }) {
  setKeyThreads(opts.conf.x509.key_generation_threads);
  const drivers = opts.drivers ?? DriverRegistry.fromConfig(opts.conf, new DockerProvider(opts.conf));
  const workloads = new WorkloadService(drivers);
  let images: ImageService | undefined;
  // Lease renewals and heartbeats get a connection of their own (PostgreSQL, MariaDB), so that a
  // busy conductor's queue of statements never delays them past a lease. SQLite has one anyway.
  const leases = opts.storage.conn.dialect === 'sqlite' ? undefined : storageFromConfig(opts.conf, { logger: opts.logger, poolSize: 1 });
  return new ConductorService({
    ...opts,
    drivers,
    leases,
    methods: (d) => {
      const methods = workloads.methods(d);
      images = new ImageService(d, { nodeImages: (cluster) => workloads.nodeImages(cluster) });
      return { ...containerMethods(d, { backendsOf: (cluster) => workloads.backendsOf(cluster) }), ...imageMethods(images), ...methods };
    },
    onStop: async () => {
      await images?.stop();
      await workloads.stop();
      await leases?.close();
    },
  });
}
