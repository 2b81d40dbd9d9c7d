import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecencyMap } from './recency-map.ts';

test('RecencyMap: an entry used since the last capacity/2 insertions is never the oldest; peek does not count as use', () => {
  const m = new RecencyMap<string, number>(4);
  for (const [i, k] of ['a', 'b', 'c', 'd'].entries()) m.set(k, i);
  assert.equal(m.oldest(), 'a');
  assert.equal(m.peek('a'), 0);
  assert.equal(m.oldest(), 'a', 'peek leaves the order alone');
  assert.equal(m.get('a'), 0);
  assert.equal(m.oldest(), 'b', 'a hit on an entry of the older half moves it to the newest end');
  assert.equal(m.get('d'), 3);
  assert.equal(m.oldest(), 'b', 'a hit on a recent entry leaves the map as it is');
  m.set('b', 9);
  assert.equal(m.oldest(), 'c', 'set puts at the newest end');
  assert.equal(m.size, 4);
  assert.equal(m.delete('c'), true);
  assert.equal(m.get('c'), undefined);
  assert.equal(m.oldest(), 'd');
  m.clear();
  assert.equal(m.size, 0);
  assert.equal(m.oldest(), undefined);
});
