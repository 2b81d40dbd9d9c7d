// IPv4 CIDR arithmetic for subnet allocation: canonical forms, overlap, and the subnets of a pool.

export interface Cidr {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

const MASK = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** Parses "a.b.c.d/n"; host bits are cleared (10.0.0.5/24 is 10.0.0.0/24). Null when it is not one. */
export function parseCidr(text: string): Cidr | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  if (!m) return null;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return null;
  const addr = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  return { base: (addr & MASK(prefix)) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  const b = c.base;
  return `${b >>> 24}.${(b >>> 16) & 255}.${(b >>> 8) & 255}.${b & 255}/${c.prefix}`;
}

/** The canonical text of a CIDR (network address / prefix), or null when it is not an IPv4 CIDR. */
export function canonicalCidr(text: string): string | null {
  const c = parseCidr(text);
  return c ? formatCidr(c) : null;
}

/** True when the two ranges share an address (one contains the other, as CIDRs do not cross). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & MASK(p)) >>> 0) === ((b.base & MASK(p)) >>> 0);
}

/** Every subnet of `prefix` bits inside `pool`, lowest first. */
export function* subnetsOf(pool: Cidr, prefix: number): Generator<Cidr> {
  if (prefix < pool.prefix || prefix > 32) return;
  const step = 2 ** (32 - prefix);
  const count = 2 ** (prefix - pool.prefix);
  for (let i = 0; i < count; i++) yield { base: pool.base + i * step, prefix };
}
