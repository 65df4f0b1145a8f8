import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorCode, pushBlob, sha256, startTestRegistry, storageKinds, type TestRegistry } from './harness.js';

/** The Location's path and query plus more query parameters (the Location may carry `_state`). */
const withQuery = (location: string, query: string) => `${location}${location.includes('?') ? '&' : '?'}${query}`;

for (const storage of storageKinds()) describe(`blobs and uploads (${storage})`, () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry({}, {}, storage);
  });
  after(async () => reg.close());

  it('answers /v2/ with 200 and the API version header', async () => {
    const res = await reg.fetch('/v2/');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  it('monolithic POST+PUT stores the blob in the registry:2 layout and serves it', async () => {
    const data = 'hello blob';
    const digest = await pushBlob(reg, 'mono/repo', data);
    const hex = digest.slice(7);
    assert.equal((await reg.stored(`blobs/sha256/${hex.slice(0, 2)}/${hex}/data`))?.toString(), data);
    assert.equal((await reg.stored(`repositories/mono/repo/_layers/sha256/${hex}/link`))?.toString(), digest);
    assert.deepEqual(await reg.listStored('repositories/mono/repo/_uploads'), []);

    const head = await reg.fetch(`/v2/mono/repo/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(data.length));
    assert.equal(head.headers.get('docker-content-digest'), digest);
    assert.equal(head.headers.get('content-type'), 'application/octet-stream');
    const get = await reg.fetch(`/v2/mono/repo/blobs/${digest}`);
    assert.equal(await get.text(), data);
  });

  it('single POST with ?digest= creates the blob (201, Location, digest header)', async () => {
    const data = Buffer.from('single post body');
    const digest = sha256(data);
    const res = await reg.fetch(`/v2/single/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/single/blobs/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal((await reg.fetch(`/v2/single/blobs/${digest}`)).status, 200);
  });

  it('serves Range requests with 206 and refuses unsatisfiable ranges with 416', async () => {
    const digest = await pushBlob(reg, 'range/repo', '0123456789');
    const part = await reg.fetch(`/v2/range/repo/blobs/${digest}`, { headers: { Range: 'bytes=2-5' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 2-5/10');
    assert.equal(await part.text(), '2345');
    const suffix = await reg.fetch(`/v2/range/repo/blobs/${digest}`, { headers: { Range: 'bytes=-3' } });
    assert.equal(await suffix.text(), '789');
    const bad = await reg.fetch(`/v2/range/repo/blobs/${digest}`, { headers: { Range: 'bytes=20-30' } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('content-range'), 'bytes */10');
  });

  it('chunked upload: PATCH with Content-Range, status GET, out-of-order chunk 416, PUT commits', async () => {
    const post = await reg.fetch('/v2/chunked/blobs/uploads/', { method: 'POST' });
    assert.equal(post.status, 202);
    let location = post.headers.get('location')!;
    assert.match(location, storage === 's3' ? /^\/v2\/chunked\/blobs\/uploads\/[0-9a-f-]{36}\?_state=[\w-]+$/ : /^\/v2\/chunked\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assert.equal(post.headers.get('range'), '0-0');

    const p1 = await reg.fetch(location, { method: 'PATCH', body: 'abcde', headers: { 'Content-Range': '0-4', 'Content-Type': 'application/octet-stream' } });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers.get('range'), '0-4');
    location = p1.headers.get('location')!;

    const gap = await reg.fetch(location, { method: 'PATCH', body: 'zz', headers: { 'Content-Range': '7-8' } });
    assert.equal(gap.status, 416);
    const overlap = await reg.fetch(location, { method: 'PATCH', body: 'zz', headers: { 'Content-Range': '3-4' } });
    assert.equal(overlap.status, 416);

    const status = await reg.fetch(location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-4');
    assert.equal(status.headers.get('location'), location);

    const p2 = await reg.fetch(location, { method: 'PATCH', body: 'fgh', headers: { 'Content-Range': '5-7' } });
    assert.equal(p2.headers.get('range'), '0-7');
    const digest = sha256('abcdefgh');
    const put = await reg.fetch(withQuery(location, `digest=${digest}`), { method: 'PUT' });
    assert.equal(put.status, 201);
    assert.equal(await (await reg.fetch(`/v2/chunked/blobs/${digest}`)).text(), 'abcdefgh');
  });

  it('accepts a streamed (chunked transfer-encoding) PATCH body and a final chunk on PUT', async () => {
    const post = await reg.fetch('/v2/streamed/blobs/uploads/', { method: 'POST' });
    const location = post.headers.get('location')!;
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(reg.url + location, { method: 'PATCH' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write(Buffer.alloc(1000, i));
      req.end();
    });
    assert.equal(status, 202);
    const tail = Buffer.from('tail');
    const all = Buffer.concat([...Array.from({ length: 10 }, (_, i) => Buffer.alloc(1000, i)), tail]);
    const put = await reg.fetch(withQuery(location, `digest=${sha256(all)}`), { method: 'PUT', body: tail });
    assert.equal(put.status, 201);
    const got = Buffer.from(await (await reg.fetch(`/v2/streamed/blobs/${sha256(all)}`)).arrayBuffer());
    assert.ok(got.equals(all));
  });

  it('a wrong digest is DIGEST_INVALID and the bytes never become a blob', async () => {
    const post = await reg.fetch('/v2/wrong/blobs/uploads/', { method: 'POST' });
    const claimed = sha256('something else');
    const put = await reg.fetch(withQuery(post.headers.get('location')!, `digest=${claimed}`), { method: 'PUT', body: 'actual' });
    assert.equal(put.status, 400);
    assert.equal(await errorCode(put), 'DIGEST_INVALID');
    assert.equal((await reg.fetch(`/v2/wrong/blobs/${claimed}`, { method: 'HEAD' })).status, 404);
    assert.equal((await reg.fetch(`/v2/wrong/blobs/${sha256('actual')}`, { method: 'HEAD' })).status, 404);
  });

  it('malformed digests are 400 DIGEST_INVALID, never 500', async () => {
    for (const bad of ['sha256:xyz', 'sha256:' + 'A'.repeat(64), 'md5:abc', 'nocolon']) {
      const res = await reg.fetch(`/v2/bad/blobs/${bad}`);
      assert.equal(res.status, 400, bad);
      assert.equal(await errorCode(res), 'DIGEST_INVALID', bad);
    }
    const post = await reg.fetch('/v2/bad/blobs/uploads/', { method: 'POST' });
    const put = await reg.fetch(withQuery(post.headers.get('location')!, 'digest=sha256:nothex'), { method: 'PUT' });
    assert.equal(put.status, 400);
    assert.equal(await errorCode(put), 'DIGEST_INVALID');
  });

  it('unknown blobs and unknown uploads are 404 with the right codes', async () => {
    const blob = await reg.fetch(`/v2/none/blobs/${sha256('never pushed')}`);
    assert.equal(blob.status, 404);
    assert.equal(await errorCode(blob), 'BLOB_UNKNOWN');
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', 'a.b']) {
      const res = await reg.fetch(`/v2/none/blobs/uploads/${id}`, { method: 'PATCH', body: 'x' });
      assert.equal(res.status, 404, id);
      assert.equal(await errorCode(res), 'BLOB_UPLOAD_UNKNOWN', id);
    }
  });

  it('zero-length blobs work', async () => {
    const digest = await pushBlob(reg, 'empty/blob', '');
    const res = await reg.fetch(`/v2/empty/blob/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '0');
  });

  it('DELETE of an upload cancels it', async () => {
    const post = await reg.fetch('/v2/cancel/blobs/uploads/', { method: 'POST' });
    const location = post.headers.get('location')!;
    assert.equal((await reg.fetch(location, { method: 'DELETE' })).status, 204);
    assert.equal((await reg.fetch(location)).status, 404);
  });

  it('cross-repository mount: 201 from a repo that has it, 202 + session when it does not', async () => {
    const digest = await pushBlob(reg, 'mount/source', 'shared layer');
    const ok = await reg.fetch(`/v2/mount/target/blobs/uploads/?mount=${digest}&from=mount/source`, { method: 'POST' });
    assert.equal(ok.status, 201);
    assert.equal(ok.headers.get('location'), `/v2/mount/target/blobs/${digest}`);
    assert.equal((await reg.fetch(`/v2/mount/target/blobs/${digest}`)).status, 200);

    const missing = sha256('not anywhere');
    const fallback = await reg.fetch(`/v2/mount/target/blobs/uploads/?mount=${missing}&from=mount/source`, { method: 'POST' });
    assert.equal(fallback.status, 202);
    assert.match(fallback.headers.get('location')!, /\/blobs\/uploads\/[0-9a-f-]{36}(\?_state=[\w-]+)?$/);

    const auto = await reg.fetch(`/v2/mount/auto/blobs/uploads/?mount=${digest}`, { method: 'POST' });
    assert.equal(auto.status, 201);
  });

  it('an interrupted upload never becomes a visible blob', async () => {
    const data = Buffer.alloc(64 * 1024, 7);
    const digest = sha256(data);
    const requests = reg.running.registry.requests;
    const seen = requests.started;
    await new Promise<void>((resolve) => {
      const req = http.request(`${reg.url}/v2/interrupted/blobs/uploads/?digest=${digest}`, {
        method: 'POST',
        headers: { 'Content-Length': String(data.length) },
      });
      req.on('error', () => resolve());
      req.write(data.subarray(0, 1000), () => setImmediate(() => req.destroy()));
      req.on('close', () => resolve());
    });
    // The server notices the abort asynchronously; wait until it has received and finished the request.
    const deadline = Date.now() + 5000;
    while ((requests.started === seen || requests.active > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(requests.started > seen && requests.active === 0, 'the aborted request is still being handled');
    assert.deepEqual(await reg.listStored('repositories/interrupted/_uploads'), []);
    assert.equal((await reg.fetch(`/v2/interrupted/blobs/${digest}`, { method: 'HEAD' })).status, 404);
    assert.equal(await reg.stored(`blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`), null);
  });

  it('two clients pushing the same blob at once both succeed', async () => {
    const data = Buffer.alloc(256 * 1024, 3);
    const results = await Promise.all([pushBlob(reg, 'race/a', data), pushBlob(reg, 'race/a', data), pushBlob(reg, 'race/b', data)]);
    assert.deepEqual(new Set(results).size, 1);
    const got = Buffer.from(await (await reg.fetch(`/v2/race/b/blobs/${results[0]}`)).arrayBuffer());
    assert.ok(got.equals(data));
  });
});

describe('storage failures (filesystem)', () => {
  it('a failure after the body was read is a 500 with a JSON error and a log line, never a dropped connection', async () => {
    const reg = await startTestRegistry();
    try {
      const data = 'a blob whose folder cannot be made';
      const hex = sha256(data).slice(7);
      // A file where the blob's folder belongs makes the commit's mkdir fail after the upload.
      const blocked = path.join(reg.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2));
      mkdirSync(path.dirname(blocked), { recursive: true });
      writeFileSync(blocked, 'not a folder');
      const res = await reg.fetch(`/v2/broken/blobs/uploads/?digest=sha256:${hex}`, { method: 'POST', body: data });
      assert.equal(res.status, 500);
      assert.equal(await errorCode(res), 'UNKNOWN');
      assert.ok(reg.logs.some((l) => l.includes('error: POST /v2/broken/blobs/uploads/')), reg.logs.slice(-5).join('\n'));
      assert.equal((await reg.fetch(`/v2/broken/blobs/sha256:${hex}`, { method: 'HEAD' })).status, 404);
    } finally {
      await reg.close();
    }
  });
});

for (const storage of storageKinds()) describe(`upload purging (${storage})`, () => {
  it('a shutdown that cuts a one-body upload leaves no temp file in the blob folder', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'rs-cut-'));
    const own = await startTestRegistry({ dataDir, shutdownGraceMs: 200 }, {}, 'filesystem');
    try {
      const digest = `sha256:${'6'.repeat(64)}`;
      const u = new URL(own.url);
      const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: `/v2/cut/repo/blobs/uploads/?digest=${digest}`, headers: { 'Content-Length': String(4 << 20) } });
      req.on('error', () => undefined);
      req.write(Buffer.alloc(3 << 20, 1)); // and never the rest
      const folder = path.join(dataDir, 'docker/registry/v2/blobs/sha256/66', '6'.repeat(64));
      const temps = () => (existsSync(folder) ? readdirSync(folder).filter((f) => f.endsWith('.tmp')) : []);
      for (const deadline = Date.now() + 5_000; temps().length === 0; await new Promise((r) => setTimeout(r, 10))) {
        assert.ok(Date.now() < deadline, 'the body is being written beside the blob');
      }
      await own.running.close();
      assert.deepEqual(temps(), [], 'removed before close resolved');
      req.destroy();
    } finally {
      await own.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('purges uploads older than the configured age', async () => {
    const reg = await startTestRegistry({ uploadMaxAgeMs: 1, uploadPurgeIntervalMs: 50 }, {}, storage);
    try {
      const post = await reg.fetch('/v2/stale/blobs/uploads/', { method: 'POST' });
      const location = post.headers.get('location')!;
      const deadline = Date.now() + 5000;
      let status = 204;
      while (status !== 404 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        status = (await reg.fetch(location)).status;
      }
      assert.equal(status, 404, `upload not purged; log: ${reg.logs.slice(-5).join('\n')}`);
    } finally {
      await reg.close();
    }
  });
});

describe('upload sessions across a restart (filesystem)', () => {
  it('a session with bytes survives a restart; one without is unknown after it, and pushing again works', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'rs-restart-'));
    const first = await startTestRegistry({ dataDir });
    let second: TestRegistry | undefined;
    try {
      const chunked = (await first.fetch('/v2/restart/repo/blobs/uploads/', { method: 'POST' })).headers.get('location')!;
      const patch = await first.fetch(chunked, { method: 'PATCH', body: 'first half, ', headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(patch.status, 202);
      const empty = (await first.fetch('/v2/restart/repo/blobs/uploads/', { method: 'POST' })).headers.get('location')!;
      await first.close();
      second = await startTestRegistry({ dataDir });
      const whole = 'first half, second half';
      const put = await second.fetch(withQuery(patch.headers.get('location')!, `digest=${sha256(whole)}`), { method: 'PUT', body: 'second half' });
      assert.equal(put.status, 201, 'the session that had bytes goes on');
      const lost = await second.fetch(withQuery(empty, `digest=${sha256('blob')}`), { method: 'PUT', body: 'blob' });
      assert.equal(lost.status, 404);
      assert.equal(await errorCode(lost), 'BLOB_UPLOAD_UNKNOWN');
      assert.equal((await second.fetch(`/v2/restart/repo/blobs/${sha256('blob')}`, { method: 'HEAD' })).status, 404);
      assert.equal(await pushBlob(second, 'restart/repo', 'blob'), sha256('blob'), 'the client starts that upload again');
    } finally {
      await (second ?? first).close().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
