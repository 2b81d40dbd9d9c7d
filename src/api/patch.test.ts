// JSON-Patch application: every failure of the client's document is a 400 (a MagnumError), also
// where rfc6902 throws because a path goes below a string, a number or a boolean.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MagnumError } from '../common/errors.ts';
import { applyPatch, patchFailure, type PatchOp } from './patch.ts';

const doc = { image_id: 'img', hidden: false, node_count: 3, labels: { a: 'b' }, empty: null };

test('a path below a string, a number or a boolean is a 400 naming the path', () => {
  const cases: PatchOp[][] = [
    [{ op: 'remove', path: '/image_id/0' }],
    [{ op: 'replace', path: '/image_id/0', value: 'x' }],
    [{ op: 'add', path: '/image_id/x', value: 'x' }],
    [{ op: 'add', path: '/hidden/-', value: '1e3' }],
    [{ op: 'replace', path: '/node_count/0', value: 1 }],
    [{ op: 'replace', path: '/labels/a', value: 'c' }, { op: 'add', path: '/labels/a/x', value: 'y' }],
  ];
  for (const ops of cases) {
    assert.throws(() => applyPatch(doc, ops), (err: unknown) => {
      assert.ok(err instanceof MagnumError, `${JSON.stringify(ops)}: ${String(err)}`);
      assert.equal(err.status, 400);
      assert.match(err.message, /^Couldn't apply patch '.*'\. Reason: can't (go below a value that is neither an object nor a list|remove or replace a non-existent object) \(\/\w+\/.+\)$/);
      return true;
    });
  }
});

test('patchFailure gives the first failure in order, and applies what comes before it', () => {
  const target = structuredClone(doc) as Record<string, unknown>;
  const failed = patchFailure(target, [{ op: 'replace', path: '/labels/a', value: 'z' }, { op: 'remove', path: '/image_id/0' }, { op: 'remove', path: '/labels' }]);
  assert.equal(failed?.name, 'NotContainerError');
  assert.deepEqual(target.labels, { a: 'z' });
  assert.equal(patchFailure(structuredClone(doc), [{ op: 'remove', path: '/nope' }])?.name, 'MissingError');
  assert.equal(patchFailure(structuredClone(doc), [{ op: 'replace', path: '/labels/a', value: 'q' }]), null);
});
