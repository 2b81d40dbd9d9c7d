import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalCidr, cidrsOverlap, formatCidr, parseCidr, subnetsOf } from './cidr.ts';

test('canonical forms: host bits cleared; anything else is not a CIDR', () => {
  assert.equal(canonicalCidr('10.0.0.5/24'), '10.0.0.0/24');
  assert.equal(canonicalCidr(' 192.168.17.200/20 '), '192.168.16.0/20');
  assert.equal(canonicalCidr('0.0.0.0/0'), '0.0.0.0/0');
  assert.equal(canonicalCidr('255.255.255.255/32'), '255.255.255.255/32');
  for (const bad of ['10.0.0.0', '10.0.0.256/24', '10.0.0.0/33', 'fd00::/64', 'private-subnet', '10.0.0/24', '']) {
    assert.equal(canonicalCidr(bad), null, bad);
  }
});

test('overlap: containment either way, and neighbours do not overlap', () => {
  const c = (s: string) => parseCidr(s)!;
  assert.equal(cidrsOverlap(c('10.213.0.0/16'), c('10.213.7.0/24')), true);
  assert.equal(cidrsOverlap(c('10.213.7.0/24'), c('10.213.0.0/16')), true);
  assert.equal(cidrsOverlap(c('10.213.7.0/24'), c('10.213.7.0/24')), true);
  assert.equal(cidrsOverlap(c('10.213.7.0/24'), c('10.213.8.0/24')), false);
  assert.equal(cidrsOverlap(c('10.213.7.128/25'), c('10.213.7.0/25')), false);
  assert.equal(cidrsOverlap(c('0.0.0.0/0'), c('192.0.2.0/24')), true);
});

test('the subnets of a pool, lowest first', () => {
  const all = [...subnetsOf(parseCidr('10.213.0.0/16')!, 24)].map(formatCidr);
  assert.equal(all.length, 256);
  assert.deepEqual(all.slice(0, 2), ['10.213.0.0/24', '10.213.1.0/24']);
  assert.equal(all.at(-1), '10.213.255.0/24');
  assert.deepEqual([...subnetsOf(parseCidr('192.168.0.0/23')!, 24)].map(formatCidr), ['192.168.0.0/24', '192.168.1.0/24']);
  assert.deepEqual([...subnetsOf(parseCidr('10.0.0.0/24')!, 16)], [], 'a subnet larger than its pool');
});
