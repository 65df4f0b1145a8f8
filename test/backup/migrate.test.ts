// Filesystem → bucket, online, at the payload level against the Ceph RGW of the S3 tests: copy while
// the registry serves, catch up, switch (a registry on the bucket), merge what the old directory got
// in the switch window without undoing pushes made to the bucket since, and pull by digest.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { freshBucket, s3Missing } from '../helpers/s3-store.js';
import { pull, pushImage } from '../gc/helpers.js';
import { openStorage } from '../../src/registry/storage/open.js';
import { runBackup } from '../../src/registry/backup/engine.js';
import { DriverSink, readBackupManifest } from '../../src/registry/backup/sink.js';
import { checkBackupTarget } from '../../src/registry/backup/backup-command.js';

const missing = s3Missing();
if (missing && process.env.CI) throw new Error(`CI: ${missing}`);

describe('migrating a data directory into a bucket while serving', { skip: missing ?? false }, () => {
  const registries: TestRegistry[] = [];
  const work = mkdtempSync(path.join(os.tmpdir(), 'rs-migrate-'));
  after(async () => {
    for (const r of registries) await r.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('copies, catches up, merges the switch window, and every tag pulls from the bucket with its digest', async () => {
    const old = await startTestRegistry();
    registries.push(old);
    const acked = new Map<string, string>();
    for (let i = 0; i < 3; i++) acked.set(`app:v${i}`, (await pushImage(old, 'app', `app ${i}`, { tag: `v${i}` })).digest);
    const bucket = await freshBucket(work, { prefix: 'registry' });
    const s3 = await openStorage({ dataDir: '', s3: bucket.settings, s3CredentialsFile: bucket.credentialsFile });
    const sink = new DriverSink(s3);

    // 1. copy while serving (a push lands between the blob copy and the snapshot)
    await checkBackupTarget(s3, false);
    const copy = await runBackup({
      source: old.running.registry.driver,
      sink,
      onPhase: async (phase) => {
        if (phase === 'snapshot') acked.set('app:during', (await pushImage(old, 'app', 'during copy', { tag: 'during' })).digest);
      },
    });
    assert.equal(copy.manifest.repositories.app!.tags.during, acked.get('app:during'));

    // 2. catch up the difference: only the new image's blobs
    const added = await pushImage(old, 'lib', 'lib 1', { tag: 'v1' });
    acked.set('lib:v1', added.digest);
    const catchUp = await runBackup({ source: old.running.registry.driver, sink });
    assert.equal(catchUp.report.copiedBlobs, added.all.length);

    // the switch window: the old registry still takes a push
    acked.set('app:window', (await pushImage(old, 'app', 'in the window', { tag: 'window' })).digest);

    // 3. switch: the registry now serves the bucket and takes pushes there, one of them over an old tag
    const next = await startTestRegistry({ s3: bucket.settings, s3CredentialsFile: bucket.credentialsFile, uploadSecret: 'test-upload-secret-0123456789' }, {}, 's3');
    registries.push(next);
    const overwritten = await pushImage(next, 'app', 'app 0 rebuilt', { tag: 'v0' });

    // 4. the last catch-up merges: the window's push arrives, the newer v0 stays, nothing is removed
    const merge = await runBackup({ source: old.running.registry.driver, sink, merge: true });
    assert.deepEqual(merge.report.keptTargetTags, ['app:v0']);
    assert.equal(merge.report.copiedBlobs, 4, "the window image's manifest, config and 2 layers: all the merge copied");
    assert.deepEqual(await sink.check(merge.manifest, merge.report.keptTargetTags), []);
    assert.equal((await readBackupManifest(s3))?.repositories.app!.tags.window, undefined, 'a merge writes no backup.json (the copy\'s stays)');

    // 5. verify by digest through the registry that serves the bucket
    acked.set('app:v0', overwritten.digest);
    for (const [ref, digest] of acked) {
      const [name, tag] = ref.split(':') as [string, string];
      assert.equal((await pull(next, name, tag))[0], digest, `${ref} pulls from the bucket with its digest`);
    }
    // the copy's backup.json marks the bucket as a backup target: copying into it again is allowed
    await checkBackupTarget(s3, false);
    s3.close?.();
  });

  it('a backup refuses a place that holds a registry but no backup', async () => {
    const reg = await startTestRegistry();
    registries.push(reg);
    await pushImage(reg, 'there', 'there', { tag: 'v1' });
    await assert.rejects(checkBackupTarget(reg.running.registry.driver, false), /holds a registry \(1 repositories, e\.g\. there\) but no backup\.json/);
    await checkBackupTarget(reg.running.registry.driver, true);
  });
});
