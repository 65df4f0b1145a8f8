import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backupPayloadArgv, restorePayloadArgv } from '../../src/ops/backup.js';
import { checkMigrationTarget, mergeFromDirectoryArgv, removeOldDataArgv } from '../../src/ops/migrate.js';

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

  it("migrate merges from the old directory read-only, on the new registry's network, credentials on stdin", () => {
    assert.deepEqual(mergeFromDirectoryArgv({ image: 'registry-setup/registry:1', registryContainer: 'abc', dataDir: '/srv/data', to: 's3://b/p?endpoint=http://x' }), [
      'docker', 'run', '--rm', '-i', '--network', 'container:abc', '--user', '1000:1000', '-v', '/srv/data:/var/lib/registry:ro', '--entrypoint', 'node',
      'registry-setup/registry:1', '/app/registry.mjs', 'backup', '--data', '/var/lib/registry', '--to', 's3://b/p?endpoint=http://x', '--to-s3-credentials', '-', '--merge', '--json',
    ]);
    // only the registry:2 tree goes, never the directory itself
    assert.deepEqual(removeOldDataArgv('/srv/data/'), ['rm', '-rf', '--', '/srv/data/docker']);
    assert.throws(() => checkMigrationTarget('/srv/other'), /give the bucket as s3:\/\//);
    assert.throws(() => checkMigrationTarget('s3://b/p?endpoint=https://x&ca=/tmp/ca.pem'), /ca=: not supported/);
    checkMigrationTarget('s3://b/p?endpoint=https://x');
  });
});
