// The S3 driver against a real Ceph RGW: uploads that move between replicas, the bucket layout,
// presigned redirects and the startup errors a user can fix.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { errorCode, pushBlob, sha256, startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { s3Client, s3Missing, startReplicaPair, type TestBucket } from '../helpers/s3-store.js';
import { startRegistry } from '../../src/registry/server.js';
import { DEFAULT_CONFIG } from '../../src/registry/config.js';
import { parseStorageUrl } from '../../src/registry/storage/s3/settings.js';

const MiB = 1024 * 1024;
const withQuery = (location: string, query: string) => `${location}${location.includes('?') ? '&' : '?'}${query}`;
/** Deterministic, incompressible-looking bytes. */
function bytes(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i += 4) {
    x = (x * 1103515245 + 12345) >>> 0;
    out.writeUInt32LE(x, Math.min(i, n - 4));
  }
  return out;
}

describe('S3 storage (Ceph RGW)', { skip: s3Missing() ?? false }, () => {
  let dir: string;
  let bucket: TestBucket;
  let a: TestRegistry;
  let b: TestRegistry;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rs-s3-'));
    // The smallest part size S3 allows, so a few MiB exercise several parts and a tail.
    ({ bucket, a, b } = await startReplicaPair(dir, (config) => startTestRegistry(config), { prefix: 'team/registry', query: 'part-size=5MiB' }));
  });
  after(async () => {
    await a?.close();
    await b?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a chunked upload started on one replica continues and finishes on another', async () => {
    const data = bytes(11 * MiB + 123, 1);
    const digest = sha256(data);
    const post = await a.fetch('/v2/multi/app/blobs/uploads/', { method: 'POST' });
    assert.equal(post.status, 202);
    let location = post.headers.get('location')!;
    assert.match(location, /\?_state=[\w-]+$/);
    const chunks = [data.subarray(0, 6 * MiB), data.subarray(6 * MiB, 9 * MiB), data.subarray(9 * MiB)];
    const p1 = await a.fetch(location, { method: 'PATCH', body: chunks[0], headers: { 'Content-Range': `0-${6 * MiB - 1}` } });
    assert.equal(p1.status, 202, await p1.text());
    location = p1.headers.get('location')!;
    const p2 = await b.fetch(location, { method: 'PATCH', body: chunks[1], headers: { 'Content-Range': `${6 * MiB}-${9 * MiB - 1}` } });
    assert.equal(p2.status, 202, await p2.text());
    assert.equal(p2.headers.get('range'), `0-${9 * MiB - 1}`);
    const status = await a.fetch(p2.headers.get('location')!);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${9 * MiB - 1}`);
    const put = await a.fetch(withQuery(p2.headers.get('location')!, `digest=${digest}`), { method: 'PUT', body: chunks[2] });
    assert.equal(put.status, 201, await put.text());
    for (const reg of [a, b]) {
      const got = Buffer.from(await (await reg.fetch(`/v2/multi/app/blobs/${digest}`)).arrayBuffer());
      assert.equal(sha256(got), digest);
    }
  });

  it('keeps distribution\'s layout under the prefix and leaves no upload behind', async () => {
    const data = bytes(7 * MiB, 2);
    const digest = await pushBlob(a, 'layout/repo', data);
    const client = s3Client(bucket.rgw);
    try {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket.bucket, Prefix: 'team/registry/' }));
      const keys = (listed.Contents ?? []).map((o) => o.Key!);
      const hex = digest.slice(7);
      assert.ok(keys.includes(`team/registry/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`), keys.join('\n'));
      assert.ok(keys.includes(`team/registry/docker/registry/v2/repositories/layout/repo/_layers/sha256/${hex}/link`), keys.join('\n'));
      assert.deepEqual(keys.filter((k) => k.includes('/_uploads/')), []);
      const multipart = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket.bucket }));
      assert.deepEqual(multipart.Uploads ?? [], []);
    } finally {
      client.destroy();
    }
  });

  it('refuses an upload URL signed with another secret or not signed at all', async () => {
    const other = await startTestRegistry({ s3: bucket.settings, s3CredentialsFile: bucket.credentialsFile, uploadSecret: 'a-different-secret-entirely' });
    try {
      const post = await a.fetch('/v2/signed/blobs/uploads/', { method: 'POST' });
      const location = post.headers.get('location')!;
      const forged = await other.fetch(location, { method: 'PATCH', body: 'x' });
      assert.equal(forged.status, 400);
      assert.equal(await errorCode(forged), 'BLOB_UPLOAD_INVALID');
      const bare = await a.fetch(location.replace(/\?.*$/, ''), { method: 'PATCH', body: 'x' });
      assert.equal(bare.status, 400);
      assert.equal(await errorCode(bare), 'BLOB_UPLOAD_INVALID');
      assert.equal((await a.fetch(location, { method: 'DELETE' })).status, 204);
    } finally {
      await other.close();
    }
  });

  it('an interrupted multipart upload never becomes a blob and its parts are aborted on cancel', async () => {
    const data = bytes(12 * MiB, 3);
    const digest = sha256(data);
    const post = await a.fetch('/v2/interrupted/blobs/uploads/', { method: 'POST' });
    const location = post.headers.get('location')!;
    await new Promise<void>((resolve) => {
      const req = http.request(a.url + location, { method: 'PATCH', headers: { 'Content-Length': String(data.length) } });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      // More than a part, so a multipart upload exists, then the client goes away.
      req.write(data.subarray(0, 7 * MiB), () => setTimeout(() => req.destroy(), 200));
    });
    assert.equal((await a.fetch(`/v2/interrupted/blobs/${digest}`, { method: 'HEAD' })).status, 404);
    const del = await a.fetch(location, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.deepEqual(await a.listStored('repositories/interrupted/_uploads'), []);
    const client = s3Client(bucket.rgw);
    try {
      const multipart = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket.bucket }));
      assert.deepEqual((multipart.Uploads ?? []).map((u) => u.Key), []);
    } finally {
      client.destroy();
    }
  });

  it('with redirect=true, blob GETs answer 307 to a presigned URL of the bucket', async () => {
    const data = bytes(1 * MiB, 4);
    const digest = await pushBlob(a, 'redirect/repo', data);
    const redirecting = await startTestRegistry({ s3: { ...bucket.settings, redirect: true }, s3CredentialsFile: bucket.credentialsFile });
    try {
      const head = await redirecting.fetch(`/v2/redirect/repo/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      const res = await redirecting.fetch(`/v2/redirect/repo/blobs/${digest}`);
      assert.equal(res.status, 307);
      const target = res.headers.get('location')!;
      assert.ok(target.startsWith(bucket.rgw.endpoint), target);
      assert.match(target, /X-Amz-Signature=/);
      const direct = Buffer.from(await (await fetch(target)).arrayBuffer());
      assert.equal(sha256(direct), digest);
    } finally {
      await redirecting.close();
    }
  });

  it('the web UI summarises the bucket (no local disk figure)', async () => {
    await pushBlob(a, 'ui/summary', 'counted by the summary');
    const res = await a.fetch('/ui/api/summary');
    assert.equal(res.status, 200);
    const summary = (await res.json()) as { blobs: number; blobBytes: number; disk: unknown };
    assert.ok(summary.blobs >= 1 && summary.blobBytes > 0, JSON.stringify(summary));
    assert.equal(summary.disk, null);
  });

  it('says in one line when the bucket is missing or the credentials are wrong', async () => {
    const base = { ...DEFAULT_CONFIG, port: 0 };
    const missing = parseStorageUrl(`s3://no-such-bucket-here?endpoint=${bucket.rgw.endpoint}`);
    await assert.rejects(startRegistry({ ...base, s3: missing, s3CredentialsFile: bucket.credentialsFile }), /the bucket does not exist; create it first/);
    const wrong = path.join(dir, 'wrong-credentials');
    writeFileSync(wrong, 'access_key_id = nobody\nsecret_access_key = nothing\n', { mode: 0o600 });
    await assert.rejects(startRegistry({ ...base, s3: bucket.settings, s3CredentialsFile: wrong }), /access denied .*check the S3 credentials file/);
  });
});
