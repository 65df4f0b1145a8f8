// A registry:2 data directory copied into a bucket is served by the S3 driver with identical
// digests, and a bucket copied back into a directory is served by distribution 2.8 and by us.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { assertFixturesRoundTrip, getTagsList, pushFixtures, withLogs } from '../helpers/fixtures.js';
import { freshBucket, s3Client, s3Missing } from '../helpers/s3-store.js';
import { startDistribution, startOurRegistry, type RunningRegistry } from '../helpers/registries.js';
import { TempDirs } from '../helpers/tmp.js';

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

/** What `aws s3 sync <dir> s3://bucket/<prefix>` does. */
async function uploadDir(client: S3Client, bucket: string, prefix: string, dir: string): Promise<number> {
  const files = await filesUnder(dir);
  for (const file of files) {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${relative(dir, file)}`, Body: await readFile(file) }));
  }
  return files.length;
}

/** What `aws s3 sync s3://bucket/<prefix> <dir>` does. */
async function downloadPrefix(client: S3Client, bucket: string, prefix: string, dir: string): Promise<number> {
  let token: string | undefined;
  let n = 0;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const target = join(dir, o.Key!.slice(prefix.length + 1));
      await mkdir(dirname(target), { recursive: true });
      const body = await client.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
      await writeFile(target, await body.Body!.transformToByteArray());
      n++;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return n;
}

describe('moving a data directory into a bucket and back', { skip: s3Missing() ?? false }, () => {
  const tmp = new TempDirs();
  const running: RunningRegistry[] = [];
  after(async () => {
    for (const r of running) await r.stop().catch(() => undefined);
    await tmp.cleanup();
  });

  it('serves a copied registry:2 directory from S3 with identical digests, and the reverse', { timeout: 300_000 }, async () => {
    const work = await tmp.make('rs-move-');
    const bucket = await freshBucket(work, { prefix: 'moved' });
    const client = s3Client(bucket.rgw);
    try {
      const dataDir = join(work, 'data');
      await mkdir(dataDir);
      // Written by distribution 2.8 itself, so the layout is the reference one.
      const distribution = await startDistribution({ dataDir });
      running.push(distribution);
      const fx = await withLogs(distribution, () => pushFixtures(distribution, tmp, 'moved/app', { imageTags: ['v1', 'stable'] }));
      await distribution.stop();
      assert.ok((await uploadDir(client, bucket.bucket, 'moved', dataDir)) > 10);

      const s3args = ['--storage', bucket.url, '--s3-credentials', bucket.credentialsFile];
      const fromBucket = await startOurRegistry({ extraArgs: s3args });
      running.push(fromBucket);
      await withLogs(fromBucket, async () => {
        await assertFixturesRoundTrip(fromBucket, tmp, fx);
        assert.deepEqual((await getTagsList(fromBucket, 'moved/app')).tags, ['multi', 'stable', 'v1']);
        const catalog = (await (await fetch(`${fromBucket.url}/v2/_catalog`)).json()) as { repositories: string[] };
        assert.deepEqual(catalog.repositories, ['moved/app']);
      });
      // Something pushed while the data lives in the bucket...
      const more = await withLogs(fromBucket, () => pushFixtures(fromBucket, tmp, 'moved/second', { imageTags: ['v2'] }));
      await fromBucket.stop();

      // ...comes back out into a directory that both registries serve.
      const back = join(work, 'back');
      assert.ok((await downloadPrefix(client, bucket.bucket, 'moved', back)) > 10);
      for (const start of [() => startDistribution({ dataDir: back }), () => startOurRegistry({ dataDir: back })]) {
        const reg = await start();
        running.push(reg);
        await withLogs(reg, async () => {
          await assertFixturesRoundTrip(reg, tmp, fx);
          await assertFixturesRoundTrip(reg, tmp, more);
        });
        await reg.stop();
      }
    } finally {
      client.destroy();
    }
  });
});
