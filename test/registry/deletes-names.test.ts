import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { OCI_MANIFEST, errorCode, pushBlob, pushImage, rawRequest, sha256, startTestRegistry, storageKinds, type TestRegistry } from './harness.js';

for (const storage of storageKinds()) describe(`deletes (${storage})`, () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry({}, {}, storage);
  });
  after(async () => reg.close());

  it('deletes a tag (202) and leaves the manifest', async () => {
    const img = await pushImage(reg, 'del/tag', 'old');
    const res = await reg.fetch('/v2/del/tag/manifests/old', { method: 'DELETE' });
    assert.equal(res.status, 202);
    assert.equal((await reg.fetch('/v2/del/tag/manifests/old')).status, 404);
    assert.equal((await reg.fetch(`/v2/del/tag/manifests/${img.digest}`)).status, 200);
    assert.equal((await reg.fetch('/v2/del/tag/manifests/old', { method: 'DELETE' })).status, 404);
  });

  it('deleting a manifest by digest removes it and every tag pointing at it', async () => {
    const img = await pushImage(reg, 'del/manifest', 'one');
    await reg.fetch('/v2/del/manifest/manifests/two', { method: 'PUT', body: img.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
    const other = await pushImage(reg, 'del/manifest', 'keep', { layers: ['different'] });
    assert.equal((await reg.fetch(`/v2/del/manifest/manifests/${img.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await reg.fetch(`/v2/del/manifest/manifests/${img.digest}`)).status, 404);
    const tags = (await (await reg.fetch('/v2/del/manifest/tags/list')).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['keep']);
    assert.equal((await reg.fetch(`/v2/del/manifest/manifests/keep`)).headers.get('docker-content-digest'), other.digest);
    const again = await reg.fetch(`/v2/del/manifest/manifests/${img.digest}`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.equal(await errorCode(again), 'MANIFEST_UNKNOWN');
  });

  it('a tag deleted while it is pushed again ends up in one state or the other, never a 500', async () => {
    const img = await pushImage(reg, 'del/race', 'seed');
    const statuses = new Set<number>();
    for (let round = 0; round < 60; round++) {
      const [put, del] = await Promise.all([
        reg.fetch('/v2/del/race/manifests/t', { method: 'PUT', body: img.bytes, headers: { 'Content-Type': OCI_MANIFEST } }),
        reg.fetch('/v2/del/race/manifests/t', { method: 'DELETE' }),
      ]);
      for (const r of [put, del]) {
        statuses.add(r.status);
        assert.ok(r.status < 500, `round ${round}: ${r.status} ${await r.text()}`);
      }
      const now = await reg.fetch('/v2/del/race/manifests/t', { headers: { Accept: OCI_MANIFEST } });
      assert.ok(now.status === 200 || now.status === 404, `round ${round}: GET ${now.status}`);
      if (now.status === 200) assert.equal(now.headers.get('docker-content-digest'), img.digest);
    }
    assert.ok(statuses.has(201) && statuses.has(202), [...statuses].join(','));
  });

  it('deleting a blob unlinks it from the repository', async () => {
    const digest = await pushBlob(reg, 'del/blob', 'bye');
    assert.equal((await reg.fetch(`/v2/del/blob/blobs/${digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await reg.fetch(`/v2/del/blob/blobs/${digest}`)).status, 404);
    const again = await reg.fetch(`/v2/del/blob/blobs/${digest}`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.equal(await errorCode(again), 'BLOB_UNKNOWN');
  });
});

for (const storage of storageKinds()) describe(`deletes disabled and read-only mode (${storage})`, () => {
  it('answers 405 UNSUPPORTED to deletes when they are disabled', async () => {
    const reg = await startTestRegistry({ deleteEnabled: false }, {}, storage);
    try {
      const img = await pushImage(reg, 'nodel/repo', 'v1');
      for (const p of ['/v2/nodel/repo/manifests/v1', `/v2/nodel/repo/manifests/${img.digest}`, `/v2/nodel/repo/blobs/${img.layers[0]}`]) {
        const res = await reg.fetch(p, { method: 'DELETE' });
        assert.equal(res.status, 405, p);
        assert.equal(await errorCode(res), 'UNSUPPORTED', p);
      }
      assert.equal((await reg.fetch('/v2/nodel/repo/manifests/v1')).status, 200);
    } finally {
      await reg.close();
    }
  });

  it('refuses pushes in read-only mode but serves pulls', async () => {
    const writable = await startTestRegistry({}, {}, storage);
    const img = await pushImage(writable, 'ro/repo', 'v1');
    await writable.running.close();
    const reg = await startTestRegistry({ ...writable.config, port: 0, readOnly: true }, {}, storage);
    try {
      assert.equal((await reg.fetch(`/v2/ro/repo/manifests/${img.digest}`)).status, 200);
      const post = await reg.fetch('/v2/ro/repo/blobs/uploads/', { method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(await errorCode(post), 'UNSUPPORTED');
    } finally {
      await reg.close();
      await writable.close();
    }
  });
});

for (const storage of storageKinds()) describe(`names, tags and paths (${storage})`, () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry({}, {}, storage);
  });
  after(async () => reg.close());

  it('invalid repository names are NAME_INVALID', async () => {
    for (const name of ['UPPER', 'a__-b', 'trailing-', '-lead', 'a//b', 'a'.repeat(256)]) {
      const res = await reg.fetch(`/v2/${name}/tags/list`);
      assert.equal(res.status, 400, name);
      assert.equal(await errorCode(res), 'NAME_INVALID', name);
    }
  });

  it('invalid tags are refused with 400', async () => {
    for (const tag of ['-dash', '.dot', 'x'.repeat(129), 'with%20space']) {
      const res = await reg.fetch(`/v2/ok/manifests/${tag}`, { method: 'PUT', body: '{}', headers: { 'Content-Type': OCI_MANIFEST } });
      assert.equal(res.status, 400, tag);
    }
  });

  it('percent-encoded names, digests and tags are decoded (clients that use encodeURIComponent)', async () => {
    const img = await pushImage(reg, 'enc/repo', 'v1');
    const name = encodeURIComponent('enc/repo');
    assert.equal(name, 'enc%2Frepo');
    const manifest = await reg.fetch(`/v2/${name}/manifests/${encodeURIComponent(img.digest)}`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get('docker-content-digest'), img.digest);
    assert.equal((await reg.fetch(`/v2/${name}/manifests/%76%31`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status, 200);
    const layer = await reg.fetch(`/v2/${name}/blobs/${encodeURIComponent(img.layers[0]!)}`);
    assert.equal(layer.status, 200);
    assert.equal(sha256(Buffer.from(await layer.arrayBuffer())), img.layers[0]);
    // a malformed escape is the name check's error, not a 500
    const bad = await reg.fetch('/v2/enc%zz/tags/list');
    assert.equal(bad.status, 400);
    assert.equal(await errorCode(bad), 'NAME_INVALID');
  });

  it('path traversal attempts never reach outside the data directory', async () => {
    const attempts = [
      '/v2/../../../etc/passwd',
      '/v2/a/../../etc/tags/list',
      '/v2/%2e%2e/%2e%2e/blobs/uploads/',
      '/v2/a/manifests/..',
      '/v2/a/manifests/..%2f..%2fescape',
      '/v2/a/blobs/uploads/..%2f..%2f..',
      `/v2/a/blobs/sha256:..%2f..%2f${'0'.repeat(58)}`,
      '/v2/a/blobs/uploads/?mount=sha256:abc&from=../../x',
    ];
    for (const p of attempts) {
      for (const method of ['GET', 'PUT', 'POST', 'DELETE', 'PATCH']) {
        const res = await rawRequest(reg, method, p);
        assert.ok(res.status >= 400 && res.status < 500, `${method} ${p} -> ${res.status} ${res.body}`);
      }
    }
    const top = readdirSync(reg.dataDir);
    const expected = storage === 's3' ? /^(docker|s3-credentials-.*)$/ : /^docker$/;
    assert.ok(top.every((e) => expected.test(e)), `unexpected entries in data dir: ${top.join(', ')}`);
    const stored = await reg.listStored('');
    assert.ok(stored.every((e) => e === 'blobs' || e === 'repositories'), `unexpected entries in the store: ${stored.join(', ')}`);
    assert.equal(existsSync(path.join(reg.dataDir, '..', 'escape')), false);
  });

  it('an unknown route is a JSON 404 and a wrong method a 405', async () => {
    assert.equal((await reg.fetch('/v2/a/unknown/thing')).status, 404);
    const res = await reg.fetch(`/v2/a/blobs/${sha256('x')}`, { method: 'PUT' });
    assert.equal(res.status, 405);
    assert.equal(await errorCode(res), 'UNSUPPORTED');
  });
});
