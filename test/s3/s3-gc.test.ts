// Garbage collection over a bucket, run by the payload's `gc --storage` while another replica
// keeps serving and receives a push during the run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { blobDataPath } from '../../src/registry/storage/paths.js';
import { startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { s3Missing, startReplicaPair, type TestBucket } from '../helpers/s3-store.js';
import { ourRegistryBundle } from '../helpers/registries.js';
import { pull, pushImage } from '../gc/helpers.js';

const run = promisify(execFile);

describe('gc on S3 storage', { skip: s3Missing() ?? false }, () => {
  let dir: string;
  let bucket: TestBucket;
  let a: TestRegistry;
  let b: TestRegistry;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rs-s3-gc-'));
    ({ bucket, a, b } = await startReplicaPair(dir, (config) => startTestRegistry(config), { prefix: 'gc' }));
  });
  after(async () => {
    await a?.close();
    await b?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('frees what nothing reaches, keeps what is tagged, and a push to another replica during the run survives', { timeout: 120_000 }, async () => {
    const kept = await pushImage(a, 'gc/app', 'kept', { tag: 'v1', layers: ['shared layer', 'only kept'] });
    const loose = await pushImage(a, 'gc/app', 'loose', { layers: ['shared layer', 'only loose'] });
    const onlyLoose = loose.all.filter((d) => !kept.all.includes(d));
    assert.equal(onlyLoose.length, 3);

    const gc = run(
      process.execPath,
      [ourRegistryBundle, 'gc', '--storage', bucket.url, '--s3-credentials', bucket.credentialsFile, '--grace', '0s', '--settle', '500ms', '--delete-untagged', '--json'],
      { timeout: 100_000 },
    );
    // Meanwhile a client pushes a new tagged image through the other replica.
    const during = await pushImage(b, 'gc/other', 'during', { tag: 'v2', layers: ['shared layer', 'pushed during gc'] });
    const { stdout, stderr } = await gc;
    process.stderr.write(stderr);
    const report = JSON.parse(stdout) as { deletedManifests: { repo: string; digest: string }[]; deletedBlobs: { digest: string }[] };
    assert.deepEqual(report.deletedManifests, [{ repo: 'gc/app', digest: loose.digest }]);
    assert.deepEqual(report.deletedBlobs.map((x) => x.digest).sort(), [...onlyLoose].sort());
    for (const d of onlyLoose) assert.equal(await a.stored(blobDataPath(d)), null, `${d} deleted from the bucket`);
    assert.deepEqual(await b.listStored('_gc'), [], 'nothing left aside');
    assert.deepEqual(await pull(b, 'gc/app', 'v1'), kept.all);
    assert.deepEqual(await pull(a, 'gc/other', 'v2'), during.all);
  });
});
