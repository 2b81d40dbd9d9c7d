import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeLogs } from './containers.ts';

describe('container logs', () => {
  it('merges the two log streams back by time', () => {
    const out = '2024-01-01T00:00:00.1Z a\n2024-01-01T00:00:00.300000000Z c\n';
    const err = '2024-01-01T00:00:00.25Z b\n';
    assert.equal(mergeLogs(out, err, false), 'a\nb\nc\n');
    assert.equal(mergeLogs(out, err, true), '2024-01-01T00:00:00.1Z a\n2024-01-01T00:00:00.25Z b\n2024-01-01T00:00:00.300000000Z c\n');
    assert.equal(mergeLogs('', '', false), '');
  });
});
