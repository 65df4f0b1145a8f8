// An upload started on one registry process continues on another over the same data directory with
// the same upload secret: what a gapless upgrade does when nginx switches processes mid-push.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errorCode, sha256, startTestRegistry, type TestRegistry } from './harness.js';

const SECRET = 'process-switch-upload-secret-0123456789';

describe('upload sessions across a registry process switch (filesystem, shared upload secret)', () => {
  const running: TestRegistry[] = [];
  after(async () => {
    for (const r of running.reverse()) await r.close();
  });

  async function pair(uploadSecret: string | null = SECRET): Promise<[TestRegistry, TestRegistry]> {
    const old = await startTestRegistry({ uploadSecret: uploadSecret ?? undefined });
    running.push(old);
    const next = await startTestRegistry({ uploadSecret: uploadSecret ?? undefined, dataDir: old.dataDir });
    running.push(next);
    return [old, next];
  }
  const withDigest = (location: string, digest: string) => `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`;

  it('a session started on the old process with no bytes yet is finished on the new one (monolithic PUT)', async () => {
    const [old, next] = await pair();
    const post = await old.fetch('/v2/switch/mono/blobs/uploads/', { method: 'POST' });
    assert.equal(post.status, 202);
    const location = post.headers.get('location')!;
    assert.match(location, /\?_state=/);
    const data = Buffer.from('bytes sent after the switch');
    const put = await next.fetch(withDigest(location, sha256(data)), { method: 'PUT', body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(put.status, 201, await put.text());
    // both processes serve the blob
    for (const r of [old, next]) assert.deepEqual(Buffer.from(await (await r.fetch(`/v2/switch/mono/blobs/${sha256(data)}`)).arrayBuffer()), data);
  });

  it('chunks: the first and the next on the new process, then the commit', async () => {
    const [old, next] = await pair();
    const post = await old.fetch('/v2/switch/chunked/blobs/uploads/', { method: 'POST' });
    const first = await next.fetch(post.headers.get('location')!, { method: 'PATCH', body: Buffer.from('0123'), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-3' } });
    assert.equal(first.status, 202, await first.text());
    assert.equal(first.headers.get('range'), '0-3');
    const second = await next.fetch(first.headers.get('location')!, { method: 'PATCH', body: Buffer.from('4567'), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '4-7' } });
    assert.equal(second.status, 202);
    const put = await next.fetch(withDigest(second.headers.get('location')!, sha256('01234567')), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
  });

  it('a session with bytes on disk continues on the new process where it stopped', async () => {
    const [old, next] = await pair();
    const post = await old.fetch('/v2/switch/disk/blobs/uploads/', { method: 'POST' });
    const first = await old.fetch(post.headers.get('location')!, { method: 'PATCH', body: Buffer.from('abc'), headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(first.status, 202);
    const second = await next.fetch(first.headers.get('location')!, { method: 'PATCH', body: Buffer.from('def'), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '3-5' } });
    assert.equal(second.status, 202, await second.text());
    assert.equal((await next.fetch(withDigest(second.headers.get('location')!, sha256('abcdef')), { method: 'PUT' })).status, 201);
  });

  it('a URL the registry did not sign is not taken on: BLOB_UPLOAD_UNKNOWN; nor is one without a secret', async () => {
    const [, next] = await pair();
    const forged = await next.fetch('/v2/switch/forged/blobs/uploads/0b5d8c7e-1f3a-4c2b-9d6e-2a7f4e1c3b5a?_state=forged', { method: 'PATCH', body: Buffer.from('x') });
    assert.equal(forged.status, 404);
    assert.equal(await errorCode(forged), 'BLOB_UPLOAD_UNKNOWN');
    // without a secret nothing proves the URL is the registry's
    const [old2, next2] = await pair(null);
    const post = await old2.fetch('/v2/switch/nosecret/blobs/uploads/', { method: 'POST' });
    const patch = await next2.fetch(post.headers.get('location')!, { method: 'PATCH', body: Buffer.from('x') });
    assert.equal(patch.status, 404);
    assert.equal(await errorCode(patch), 'BLOB_UPLOAD_UNKNOWN');
  });

  it('a status request on the new process does not create the session', async () => {
    const [old, next] = await pair();
    const post = await old.fetch('/v2/switch/status/blobs/uploads/', { method: 'POST' });
    const status = await next.fetch(post.headers.get('location')!);
    assert.equal(status.status, 404);
    assert.equal(await errorCode(status), 'BLOB_UPLOAD_UNKNOWN');
  });
});
