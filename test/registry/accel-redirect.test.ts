// REGISTRY_HTTP_ACCELREDIRECT: behind nginx with the data directory, a blob GET is decided here and
// answered with the file's path for nginx to send; everything else answers as without it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { configFromFlags } from '../../src/registry/serve-command.js';
import { pushBlob, startTestRegistry, type TestRegistry } from './harness.js';

describe('blob GET with an accel-redirect prefix', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry({ accelRedirect: '/_registry_blob_bytes/' });
  });
  after(async () => reg.close());

  it('names the blob file under the prefix, built from the digest, and sends no bytes', async () => {
    const digest = await pushBlob(reg, 'app', 'some layer bytes');
    const hex = digest.slice('sha256:'.length);
    const res = await reg.fetch(`/v2/app/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-accel-redirect'), `/_registry_blob_bytes/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(res.headers.get('etag'), `"${digest}"`);
    assert.equal(await res.text(), '');
  });

  it('HEAD, unknown blobs, other repositories and bad ranges are answered here as before', async () => {
    const digest = await pushBlob(reg, 'app2', 'more bytes');
    const head = await reg.fetch(`/v2/app2/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('x-accel-redirect'), null);
    assert.equal(head.headers.get('content-length'), '10');
    assert.equal((await reg.fetch(`/v2/other/blobs/${digest}`)).status, 404);
    const bad = await reg.fetch(`/v2/app2/blobs/${digest}`, { headers: { Range: 'bytes=50-' } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('x-accel-redirect'), null);
  });

  it('the variable takes a location prefix and nothing else', () => {
    assert.equal(configFromFlags({}, { REGISTRY_HTTP_ACCELREDIRECT: '/_registry_blob_bytes/' }).accelRedirect, '/_registry_blob_bytes/');
    for (const bad of ['_x/', '/x', '/../x/', '/x y/', '/x/\r\nSet-Cookie: a/']) {
      assert.throws(() => configFromFlags({}, { REGISTRY_HTTP_ACCELREDIRECT: bad }), /REGISTRY_HTTP_ACCELREDIRECT: .* is not a location prefix/, bad);
    }
  });
});
