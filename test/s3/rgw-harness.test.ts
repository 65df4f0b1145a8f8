// Smoke test of the throwaway Ceph RGW harness (test/helpers/rgw.ts): it starts, speaks S3 to the
// AWS SDK (bucket, PUT/GET, multipart, delimiter listing) and leaves no daemon behind when stopped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { rgwAvailable, rgwClient, startRgw, type Rgw } from '../helpers/rgw.js';

const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Locally missing Ceph binaries skip (with the reason); in CI .ci/run installs them, so it is a failure.
const missing = rgwAvailable();
if (missing && process.env.CI) {
  it('finds the Ceph binaries', () => assert.fail(`${missing}; .ci/run must install ceph-mon ceph-osd radosgw`));
}

describe('throwaway Ceph RGW (test/helpers/rgw.ts)', { skip: missing ?? false }, () => {
  let rgw: Rgw | undefined;
  let s3: S3Client;
  const bucket = 'harness-smoke';

  before(async () => {
    rgw = await startRgw();
    s3 = rgwClient(rgw);
  });

  after(async () => {
    s3?.destroy();
    await rgw?.stop();
  });

  it('listens on 127.0.0.1 and answers anonymous GET / with S3 XML', async () => {
    assert.match(rgw!.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${rgw!.endpoint}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /ListAllMyBucketsResult/);
  });

  it('creates a bucket, PUTs and GETs an object', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = randomBytes(100_000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/small.bin', Body: body, ContentType: 'application/octet-stream' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/small.bin' }));
    const bytes = await got.Body!.transformToByteArray();
    assert.equal(bytes.length, body.length);
    assert.equal(sha256(bytes), sha256(body));
    assert.equal(got.ContentType, 'application/octet-stream');
  });

  it('completes a multipart upload (2 × 5 MiB + tail)', async () => {
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(123_457)];
    const key = 'dir/sub/multi.bin';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    assert.ok(UploadId);
    const etags: { ETag: string; PartNumber: number }[] = [];
    for (const [i, part] of parts.entries()) {
      const res = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: part }));
      etags.push({ ETag: res.ETag!, PartNumber: i + 1 });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: etags } }));

    const all = Buffer.concat(parts);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    assert.equal(head.ContentLength, all.length);
    assert.match(head.ETag ?? '', /-3"$/);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    assert.equal(sha256(await got.Body!.transformToByteArray()), sha256(all));
    const ranged = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${5 * MiB - 10}-${5 * MiB + 9}` }));
    assert.deepEqual(Buffer.from(await ranged.Body!.transformToByteArray()), all.subarray(5 * MiB - 10, 5 * MiB + 10));
  });

  it('lists with a delimiter', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'top.txt', Body: 'top' }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'other/x.txt', Body: 'x' }));
    const root = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/' }));
    assert.deepEqual((root.Contents ?? []).map((o) => o.Key), ['top.txt']);
    assert.deepEqual((root.CommonPrefixes ?? []).map((p) => p.Prefix), ['dir/', 'other/']);
    const dir = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'dir/', Delimiter: '/' }));
    assert.deepEqual((dir.Contents ?? []).map((o) => o.Key), ['dir/small.bin']);
    assert.deepEqual((dir.CommonPrefixes ?? []).map((p) => p.Prefix), ['dir/sub/']);
  });

  it('stop() ends every daemon and removes its directory', async () => {
    const { pids, dir } = rgw!;
    for (const [name, pid] of Object.entries(pids)) assert.ok(alive(pid), `${name} (pid ${pid}) should be running before stop()`);
    await rgw!.stop();
    for (const [name, pid] of Object.entries(pids)) assert.ok(!alive(pid), `${name} (pid ${pid}) still exists after stop()`);
    assert.equal(existsSync(dir), false, `${dir} should be removed`);
    await rgw!.stop(); // idempotent
  });
});
