import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_INDEX,
  OCI_MANIFEST,
  errorCode,
  pushBlob,
  pushImage,
  sha256,
  startTestRegistry,
  storageKinds,
  type TestRegistry,
} from './harness.js';

for (const storage of storageKinds()) describe(`manifests (${storage})`, () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry({}, {}, storage);
  });
  after(async () => reg.close());

  it('PUT answers 201 with Location and digest; GET by tag and digest returns the exact bytes', async () => {
    const img = await pushImage(reg, 'app/web', 'v1', { layers: ['l1', 'l2'] });
    for (const ref of ['v1', img.digest]) {
      const res = await reg.fetch(`/v2/app/web/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(res.headers.get('docker-content-digest'), img.digest);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(img.bytes));
    }
    const head = await reg.fetch(`/v2/app/web/manifests/v1`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(img.bytes.length));
    assert.equal(head.headers.get('docker-content-digest'), img.digest);
  });

  it('a Docker schema 2 manifest keeps its media type', async () => {
    const img = await pushImage(reg, 'docker/img', 'latest', { mediaType: DOCKER_MANIFEST });
    const res = await reg.fetch('/v2/docker/img/manifests/latest', { headers: { Accept: `${DOCKER_MANIFEST}, ${OCI_MANIFEST}` } });
    assert.equal(res.headers.get('content-type'), DOCKER_MANIFEST);
    assert.equal(res.headers.get('docker-content-digest'), img.digest);
  });

  it('rejects references to missing blobs with MANIFEST_BLOB_UNKNOWN', async () => {
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('missing config'), size: 14 },
      layers: [],
    };
    const res = await reg.fetch('/v2/app/missing/manifests/x', { method: 'PUT', body: JSON.stringify(manifest), headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'MANIFEST_BLOB_UNKNOWN');
  });

  it('rejects garbage, wrong schema and mismatched media types with MANIFEST_INVALID', async () => {
    const cases: [string, string][] = [
      ['{not json', OCI_MANIFEST],
      ['[]', OCI_MANIFEST],
      [JSON.stringify({ schemaVersion: 3, mediaType: OCI_MANIFEST }), OCI_MANIFEST],
      [JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }), OCI_MANIFEST],
      [JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: 'sha256:zz' }, layers: [] }), OCI_MANIFEST],
      [JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-unknown' }), 'application/x-unknown'],
    ];
    for (const [body, type] of cases) {
      const res = await reg.fetch('/v2/app/bad/manifests/t', { method: 'PUT', body, headers: { 'Content-Type': type } });
      assert.equal(res.status, 400, body);
      assert.equal(await errorCode(res), 'MANIFEST_INVALID', body);
    }
  });

  it('refuses manifests over 4 MiB with 413', async () => {
    const big = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, pad: 'x'.repeat(4 * 1024 * 1024) });
    const res = await reg.fetch('/v2/app/big/manifests/t', { method: 'PUT', body: big, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(res.status, 413);
  });

  it('PUT by digest must match the content', async () => {
    const img = await pushImage(reg, 'app/bydigest', 'seed');
    const wrong = sha256('other');
    const res = await reg.fetch(`/v2/app/bydigest/manifests/${wrong}`, { method: 'PUT', body: img.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'DIGEST_INVALID');
    const ok = await reg.fetch(`/v2/app/bydigest/manifests/${img.digest}`, { method: 'PUT', body: img.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(ok.status, 201);
  });

  it('an index needs its children in the repository; unknown manifests are MANIFEST_UNKNOWN', async () => {
    const amd = await pushImage(reg, 'multi/arch', 'amd', { mediaType: DOCKER_MANIFEST });
    const arm = await pushImage(reg, 'multi/arch', 'arm', { mediaType: DOCKER_MANIFEST, layers: ['arm layer'] });
    const entry = (d: { digest: string; bytes: Buffer }, architecture: string) => ({
      mediaType: DOCKER_MANIFEST,
      digest: d.digest,
      size: d.bytes.length,
      platform: { os: 'linux', architecture },
    });
    const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [entry(arm, 'arm64'), entry(amd, 'amd64')] }));
    const put = await reg.fetch('/v2/multi/arch/manifests/latest', { method: 'PUT', body: list, headers: { 'Content-Type': DOCKER_LIST } });
    assert.equal(put.status, 201);

    const all = await reg.fetch('/v2/multi/arch/manifests/latest', { headers: { Accept: `${DOCKER_LIST}, ${DOCKER_MANIFEST}` } });
    assert.equal(all.headers.get('content-type'), DOCKER_LIST);
    assert.equal(all.headers.get('docker-content-digest'), sha256(list));
    // A client that cannot read lists gets the linux/amd64 image, as from distribution.
    const old = await reg.fetch('/v2/multi/arch/manifests/latest', { headers: { Accept: DOCKER_MANIFEST } });
    assert.equal(old.status, 200);
    assert.equal(old.headers.get('docker-content-digest'), amd.digest);

    const orphan = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('nope'), size: 4 }] };
    const bad = await reg.fetch('/v2/multi/arch/manifests/orphan', { method: 'PUT', body: JSON.stringify(orphan), headers: { 'Content-Type': OCI_INDEX } });
    assert.equal(bad.status, 400);
    assert.equal(await errorCode(bad), 'MANIFEST_BLOB_UNKNOWN');

    const unknown = await reg.fetch('/v2/multi/arch/manifests/nosuchtag');
    assert.equal(unknown.status, 404);
    assert.equal(await errorCode(unknown), 'MANIFEST_UNKNOWN');
  });

  it('a reference that is neither tag nor digest is 404 MANIFEST_UNKNOWN to read or delete, 400 TAG_INVALID to write', async () => {
    const img = await pushImage(reg, 'app/badref', 'v1');
    for (const ref of ['.INVALID_MANIFEST_NAME', 'a'.repeat(129), '-dash']) {
      for (const method of ['GET', 'DELETE']) {
        const res = await reg.fetch(`/v2/app/badref/manifests/${ref}`, { method });
        assert.equal(res.status, 404, `${method} ${ref}`);
        assert.equal(await errorCode(res), 'MANIFEST_UNKNOWN', `${method} ${ref}`);
      }
      const head = await reg.fetch(`/v2/app/badref/manifests/${ref}`, { method: 'HEAD' });
      assert.equal(head.status, 404, `HEAD ${ref}`);
      const put = await reg.fetch(`/v2/app/badref/manifests/${ref}`, { method: 'PUT', body: img.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
      assert.equal(put.status, 400, `PUT ${ref}`);
      assert.equal(await errorCode(put), 'TAG_INVALID', `PUT ${ref}`);
    }
    // a digest of a malformed shape is still the client's mistake
    const digestShaped = await reg.fetch('/v2/app/badref/manifests/sha256:abc');
    assert.equal(digestShaped.status, 400);
    assert.equal(await errorCode(digestShaped), 'DIGEST_INVALID');
  });

  it('a config or layer descriptor that names a manifest of the repository is MANIFEST_BLOB_UNKNOWN, as in distribution', async () => {
    for (const mediaType of [OCI_MANIFEST, DOCKER_MANIFEST]) {
      const repo = mediaType === OCI_MANIFEST ? 'app/confman-oci' : 'app/confman-docker';
      const img = await pushImage(reg, repo, 'base', { mediaType });
      const manifest = JSON.parse(img.bytes.toString('utf8')) as { config: Record<string, unknown>; layers: Record<string, unknown>[] };
      const asManifest = { digest: img.digest, size: img.bytes.length };
      const cases = {
        'config naming the manifest': { ...manifest, config: { ...manifest.config, ...asManifest } },
        'config naming the manifest with a manifest media type': { ...manifest, config: { mediaType, ...asManifest } },
        'layer naming the manifest': { ...manifest, layers: [{ ...manifest.layers[0], ...asManifest }] },
      };
      for (const [what, body] of Object.entries(cases)) {
        const res = await reg.fetch(`/v2/${repo}/manifests/bad`, { method: 'PUT', body: JSON.stringify(body), headers: { 'Content-Type': mediaType } });
        assert.equal(res.status, 400, `${mediaType}: ${what}`);
        const error = ((await res.json()) as { errors: { code: string; detail: { digest: string } }[] }).errors[0]!;
        assert.equal(error.code, 'MANIFEST_BLOB_UNKNOWN', `${mediaType}: ${what}`);
        assert.equal(error.detail.digest, img.digest);
        assert.equal((await reg.fetch(`/v2/${repo}/manifests/bad`, { method: 'HEAD' })).status, 404, 'nothing was tagged');
      }
      // the same bytes pushed as a blob as well are an ordinary blob, as distribution accepts them
      await pushBlob(reg, repo, img.bytes);
      const ok = await reg.fetch(`/v2/${repo}/manifests/ok`, { method: 'PUT', body: JSON.stringify(cases['config naming the manifest']), headers: { 'Content-Type': mediaType } });
      assert.equal(ok.status, 201);
    }
  });

  it('referrers: subject may be missing, OCI-Subject header, listing with filter and fallbacks', async () => {
    const subject = sha256('subject that is not pushed yet');
    const emptyConfig = await pushBlob(reg, 'ref/repo', '{}');
    const sig = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyConfig, size: 2 },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: subject, size: 123 },
      annotations: { 'org.example.signed-by': 'ci' },
    };
    const sbom = { ...sig, artifactType: undefined, config: { mediaType: 'application/vnd.example.sbom', digest: emptyConfig, size: 2 }, annotations: undefined };
    const put = await reg.fetch('/v2/ref/repo/manifests/sig', { method: 'PUT', body: JSON.stringify(sig), headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('oci-subject'), subject);
    await reg.fetch('/v2/ref/repo/manifests/sbom', { method: 'PUT', body: JSON.stringify(sbom), headers: { 'Content-Type': OCI_MANIFEST } });

    const res = await reg.fetch(`/v2/ref/repo/referrers/${subject}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), OCI_INDEX);
    const index = (await res.json()) as { manifests: { artifactType: string; annotations?: Record<string, string> }[] };
    const types = index.manifests.map((m) => m.artifactType).sort();
    assert.deepEqual(types, ['application/vnd.example.sbom', 'application/vnd.example.signature']);
    assert.deepEqual(index.manifests.find((m) => m.artifactType === 'application/vnd.example.signature')!.annotations, { 'org.example.signed-by': 'ci' });

    const filtered = await reg.fetch(`/v2/ref/repo/referrers/${subject}?artifactType=application/vnd.example.sbom`);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    assert.equal(((await filtered.json()) as { manifests: unknown[] }).manifests.length, 1);

    const none = await reg.fetch(`/v2/ref/repo/referrers/${sha256('no referrers')}`);
    assert.equal(none.status, 200);
    assert.deepEqual(((await none.json()) as { manifests: unknown[] }).manifests, []);
    const bad = await reg.fetch('/v2/ref/repo/referrers/sha256:bad');
    assert.equal(bad.status, 400);
  });
});

for (const storage of storageKinds()) describe(`concurrent pushes (${storage})`, () => {
  it('two clients pushing the same tag at once both succeed and leave a consistent store', async () => {
    const reg = await startTestRegistry({}, {}, storage);
    try {
      const a = await pushImage(reg, 'race/tag', 'seed-a', { layers: ['a'] });
      const b = await pushImage(reg, 'race/tag', 'seed-b', { layers: ['b'] });
      for (let round = 0; round < 10; round++) {
        const results = await Promise.all(
          [a, b, a, b].map((img) => reg.fetch('/v2/race/tag/manifests/latest', { method: 'PUT', body: img.bytes, headers: { 'Content-Type': OCI_MANIFEST } })),
        );
        assert.deepEqual(results.map((r) => r.status), [201, 201, 201, 201]);
        const got = await reg.fetch('/v2/race/tag/manifests/latest');
        assert.equal(got.status, 200);
        assert.ok([a.digest, b.digest].includes(got.headers.get('docker-content-digest')!));
        assert.ok(Buffer.from(await got.arrayBuffer()).equals(got.headers.get('docker-content-digest') === a.digest ? a.bytes : b.bytes));
      }
      const tags = (await (await reg.fetch('/v2/race/tag/tags/list')).json()) as { tags: string[] };
      assert.deepEqual(tags.tags, ['latest', 'seed-a', 'seed-b']);
    } finally {
      await reg.close();
    }
  });
});

for (const storage of storageKinds()) describe(`tags and catalog (${storage})`, () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry({}, {}, storage);
    for (const tag of ['b', 'a', 'c', 'B', '1.0']) await pushImage(reg, 'tags/repo', tag, { layers: ['same'] });
    for (const name of ['zeta', 'alpha/one', 'alpha/two', 'mid']) await pushImage(reg, name, 'latest');
  });
  after(async () => reg.close());

  it('lists tags in lexical order with n/last pagination and a Link header', async () => {
    const all = await reg.fetch('/v2/tags/repo/tags/list');
    assert.deepEqual(await all.json(), { name: 'tags/repo', tags: ['1.0', 'B', 'a', 'b', 'c'] });
    assert.equal(all.headers.get('link'), null);

    const first = await reg.fetch('/v2/tags/repo/tags/list?n=2');
    assert.deepEqual(((await first.json()) as { tags: string[] }).tags, ['1.0', 'B']);
    assert.equal(first.headers.get('link'), '</v2/tags/repo/tags/list?n=2&last=B>; rel="next"');
    const second = await reg.fetch('/v2/tags/repo/tags/list?n=2&last=B');
    assert.deepEqual(((await second.json()) as { tags: string[] }).tags, ['a', 'b']);
    const last = await reg.fetch('/v2/tags/repo/tags/list?n=2&last=b');
    assert.deepEqual(((await last.json()) as { tags: string[] }).tags, ['c']);
    assert.equal(last.headers.get('link'), null);

    const zero = await reg.fetch('/v2/tags/repo/tags/list?n=0');
    assert.deepEqual(((await zero.json()) as { tags: string[] }).tags, []);
    assert.equal(zero.headers.get('link'), null);
    assert.equal((await reg.fetch('/v2/tags/repo/tags/list?n=-1')).status, 400);
  });

  it('tags of an unknown repository are NAME_UNKNOWN', async () => {
    const res = await reg.fetch('/v2/no/such/repo/tags/list');
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'NAME_UNKNOWN');
  });

  it('lists the catalog with the same pagination', async () => {
    const all = await reg.fetch('/v2/_catalog');
    assert.deepEqual(await all.json(), { repositories: ['alpha/one', 'alpha/two', 'mid', 'tags/repo', 'zeta'] });
    const page = await reg.fetch('/v2/_catalog?n=2&last=alpha/two');
    assert.deepEqual(((await page.json()) as { repositories: string[] }).repositories, ['mid', 'tags/repo']);
    assert.equal(page.headers.get('link'), '</v2/_catalog?n=2&last=tags%2Frepo>; rel="next"');
  });
});
