import { E } from '../common/errors.ts';
import type { Config } from '../conf/index.ts';
import type { ClusterTemplate } from '../objects/models.ts';
import type { Driver } from './driver.ts';
import type { InfraProvider } from '../infra/provider.ts';
import { FakeDriver } from './fake/driver.ts';
import { KubernetesDriver } from './kubernetes/driver.ts';
import { SwarmModeDriver } from './swarm-mode/driver.ts';

/** Drivers a deployment can enable, by name. Test-only drivers are listed apart. */
const TEST_DRIVERS: Record<string, (conf: Config, infra: InfraProvider) => Driver> = {
  fake: (conf) => new FakeDriver(conf),
};
const DRIVERS: Record<string, (conf: Config, infra: InfraProvider) => Driver> = {
  swarm_mode_docker: (conf, infra) => new SwarmModeDriver(conf, infra, conf.drivers.swarm_mode_os_distros),
  k8s_debian_docker: (conf, infra) => new KubernetesDriver(conf, infra),
};

/** Picks a driver from (server_type, cluster_distro, coe), as Magnum does. */
export class DriverRegistry {
  readonly #drivers: Driver[];

  constructor(drivers: Driver[]) {
    this.#drivers = drivers;
  }

  /** The enabled drivers, their nodes made by `infra` (built by src/cmd: the `docker` provider today). */
  static fromConfig(conf: Config, infra: InfraProvider): DriverRegistry {
    const disabled = new Set(conf.drivers.disabled_drivers);
    const drivers: Driver[] = [];
    for (const [name, make] of Object.entries(DRIVERS)) if (!disabled.has(name)) drivers.push(make(conf, infra));
    for (const name of conf.drivers.test_drivers) {
      const make = TEST_DRIVERS[name];
      if (!make) throw new Error(`[drivers] test_drivers: unknown test driver ${name}`);
      drivers.push(make(conf, infra));
    }
    return new DriverRegistry(drivers);
  }

  find(serverType: string, os: string | null, coe: string): Driver | undefined {
    return this.#drivers.find((d) => d.provides.some((p) => p.server_type === serverType && p.os === os && p.coe === coe));
  }

  supports(serverType: string, os: string | null, coe: string): boolean {
    return this.find(serverType, os, coe) !== undefined;
  }

  forTemplate(t: ClusterTemplate): Driver {
    const d = this.find(t.server_type ?? 'vm', t.cluster_distro, t.coe ?? '');
    if (!d) throw E.ClusterTypeNotSupported(t.server_type ?? 'vm', t.cluster_distro, t.coe ?? '');
    return d;
  }

  get names(): string[] {
    return this.#drivers.map((d) => d.name);
  }
}
