import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backupPayloadArgv, restorePayloadArgv } from '../../src/ops/backup.js';

describe('backup/restore payload commands', () => {
  it('back up a data directory as a stream, or into a bucket with its credentials on stdin (never in argv)', () => {
    assert.deepEqual(backupPayloadArgv('c1', { inBucket: false, location: '-' }), [
      'docker', 'exec', '-i', 'c1', 'node', '/app/registry.mjs', 'backup', '--data', '/var/lib/registry', '--to', '-', '--json',
    ]);
    assert.deepEqual(backupPayloadArgv('c1', { inBucket: true, location: 's3://b/p?endpoint=http://x', credentialsOnStdin: true, verify: true }), [
      'docker', 'exec', '-i', 'c1', 'node', '/app/registry.mjs', 'backup', '--to', 's3://b/p?endpoint=http://x', '--to-s3-credentials', '-', '--verify', '--json',
    ]);
  });

  it('restore names the repositories it is limited to', () => {
    assert.deepEqual(restorePayloadArgv('c1', { inBucket: false, location: '-', repos: ['a/b', 'c'] }), [
      'docker', 'exec', '-i', 'c1', 'node', '/app/registry.mjs', 'restore', '--data', '/var/lib/registry', '--from', '-', '--repos', 'a/b,c', '--json',
    ]);
  });
});
