// The conductor's side of per-cluster address space: drivers ask through the step context
// (ClusterAddresses) and the allocation is a row in cluster_subnet, whose unique keys settle
// concurrent creates on any number of conductors. The first free subnet of the pool is taken,
// skipping what other clusters hold and what the provider's host uses (networks not of ours).
import { canonicalCidr, cidrsOverlap, formatCidr, parseCidr, subnetsOf, type Cidr } from '../common/cidr.ts';
import type { Storage } from '../db/api.ts';
import type { ClusterAddresses, SubnetRequest } from '../drivers/driver.ts';

export type SubnetStore = Pick<Storage, 'findClusterSubnet' | 'listAllocatedSubnets' | 'claimClusterSubnet' | 'releaseClusterSubnet'>;

function cidrOrThrow(text: string, what: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new Error(`${what} '${text}' is not an IPv4 CIDR`);
  return c;
}

export function clusterAddresses(storage: SubnetStore, clusterUuid: string): ClusterAddresses {
  return {
    subnet: async (req: SubnetRequest): Promise<string> => {
      const held = await storage.findClusterSubnet(clusterUuid);
      if (held) return held;
      const blocked: Cidr[] = [];
      for (const s of req.inUse) {
        const c = parseCidr(s);
        if (c) blocked.push(c); // an IPv6 subnet on the host cannot overlap an IPv4 one
      }
      const allocated = await storage.listAllocatedSubnets();
      for (const a of allocated) blocked.push(cidrOrThrow(a.subnet, 'allocated subnet'));
      if (req.fixed !== null) {
        const fixed = canonicalCidr(req.fixed);
        if (!fixed) throw new Error(`fixed_subnet '${req.fixed}' is not an IPv4 CIDR`);
        const holder = allocated.find((a) => cidrsOverlap(cidrOrThrow(a.subnet, 'allocated subnet'), parseCidr(fixed)!));
        if (holder) throw new Error(`fixed_subnet ${fixed} overlaps ${holder.subnet}, allocated to cluster ${holder.clusterUuid}`);
        const got = await storage.claimClusterSubnet(clusterUuid, fixed);
        if (!got) throw new Error(`fixed_subnet ${fixed} is allocated to another cluster`);
        return got;
      }
      const pool = cidrOrThrow(req.pool, 'subnet pool');
      for (const candidate of subnetsOf(pool, req.prefixLength)) {
        if (blocked.some((b) => cidrsOverlap(b, candidate))) continue;
        const got = await storage.claimClusterSubnet(clusterUuid, formatCidr(candidate));
        if (got) return got;
        // Another conductor took it first (the unique key said so): learn what the others took
        // meanwhile in one read instead of bumping into each of their subnets in turn.
        blocked.push(candidate);
        for (const a of await storage.listAllocatedSubnets()) blocked.push(cidrOrThrow(a.subnet, 'allocated subnet'));
      }
      throw new Error(`no free /${req.prefixLength} is left in ${req.pool}: ${allocated.length} allocated to clusters, ${req.inUse.length} in use on the host`);
    },
    release: () => storage.releaseClusterSubnet(clusterUuid),
  };
}
