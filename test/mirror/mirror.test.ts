// The pull-through cache against real upstreams: distribution 2.8 (behind a counting proxy), a
// second registry of ours with htpasswd, and one whose access policy lets anonymous pulls in
// through its Bearer token endpoint, so the token flow runs for real.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { startDistribution, type RunningRegistry } from '../helpers/registries.js';
import { buildOciIndex } from '../helpers/oci.js';
import { skopeoCopy, skopeoInspectRaw } from '../helpers/skopeo.js';
import { TempDirs } from '../helpers/tmp.js';
import { blobDataPath } from '../../src/registry/storage/paths.js';
import { DOCKER_MANIFEST, errorCode, pushBlob, pushImage, sha256, startTestRegistry, type TestInit, type TestRegistry } from '../registry/harness.js';
import { startCountingProxy, type CountingProxy } from './counting-proxy.js';

const MiB = 1024 * 1024;
const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** The harness's push helpers against distribution (absolute upload Locations). */
function asTestRegistry(url: string, headers: Record<string, string> = {}): TestRegistry {
  return {
    url,
    fetch: (p: string, init: TestInit = {}) =>
      fetch(p.startsWith('http') ? p : url + p, { ...init, body: init.body as BodyInit, headers: { ...headers, ...(init.headers as Record<string, string>) }, redirect: 'manual' }),
  } as TestRegistry;
}

async function sha256OfBody(res: Response): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

describe('serve --mirror', () => {
  const tmp = new TempDirs();
  let dist: RunningRegistry;
  let proxy: CountingProxy;
  let cdn: CountingProxy;
  let withUsers: TestRegistry;
  let withTokens: TestRegistry;
  let mirror: TestRegistry;
  let index: Awaited<ReturnType<typeof buildOciIndex>>;
  let dockerImage: Awaited<ReturnType<typeof pushImage>>;

  before(async () => {
    const dir = await tmp.make('rs-mirror-');
    dist = await startDistribution();
    proxy = await startCountingProxy(dist.url);
    cdn = await startCountingProxy(dist.url, { requireToken: false }); // blob storage on another host
    const layout = path.join(dir, 'layout');
    index = await buildOciIndex(layout, 'multi', { platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }], layerSizes: [4096] });
    await skopeoCopy(`oci:${layout}:multi`, `docker://${dist.host}/tools/multi:1`, { all: true, preserveDigests: true });
    dockerImage = await pushImage(asTestRegistry(dist.url), 'library/hello', '1', { mediaType: DOCKER_MANIFEST });

    const htpasswd = path.join(dir, 'htpasswd');
    writeFileSync(htpasswd, `up:${bcrypt.hashSync('up-pw', 5)}\n`);
    withUsers = await startTestRegistry({ htpasswd }, basic('up', 'up-pw'));
    await pushImage(withUsers, 'team/app', 'v1');
    const policy = path.join(dir, 'access.yaml');
    writeFileSync(policy, 'repositories:\n  "public/**":\n    policies:\n      - users: [up]\n        actions: [read, create, update, delete]\n    anonymousPolicy: [read]\n  "**":\n    policies:\n      - users: [up]\n        actions: [read, create, update, delete]\n');
    withTokens = await startTestRegistry({ htpasswd, accessFile: policy }, basic('up', 'up-pw'));
    await pushImage(withTokens, 'org/tool', 'v2');

    const creds = path.join(dir, 'b.credentials');
    writeFileSync(creds, 'username = up\npassword = up-pw\n');
    chmodSync(creds, 0o600);
    mirror = await startTestRegistry({
      mirrors: [
        { prefix: 'docker.io', url: proxy.url },
        { prefix: 'b.example', url: withUsers.url, credentialsFile: creds },
        { prefix: 'c.example', url: withTokens.url, credentialsFile: creds },
      ],
      mirrorDefault: 'docker.io',
      mirrorTagTtlMs: 0, // every tag pull asks upstream with a HEAD
      mirrorTimeoutMs: 5_000,
    });
  });

  after(async () => {
    await mirror?.close();
    await withUsers?.close();
    await withTokens?.close();
    await proxy?.stop();
    await cdn?.stop();
    await dist?.stop();
    await tmp.cleanup();
  });

  it('skopeo pulls a multi-arch index through the prefix: same digests as upstream, every image intact', async () => {
    const raw = await skopeoInspectRaw(`docker://${new URL(mirror.url).host}/docker.io/tools/multi:1`);
    assert.equal(raw.digest, index.indexDigest, 'the index is served byte for byte');
    const out = path.join(await tmp.make('rs-mirror-pull-'), 'out');
    // skopeo verifies every blob's digest as it copies
    await skopeoCopy(`docker://${new URL(mirror.url).host}/docker.io/tools/multi:1`, `oci:${out}:got`, { all: true, preserveDigests: true });
    for (const child of index.children) {
      const res = await mirror.fetch(`/v2/docker.io/tools/multi/manifests/${child.manifestDigest}`);
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), child.manifest);
    }
  });

  it('a Docker v2 schema 2 manifest stays Docker, byte for byte; Docker-Hub-style unprefixed names come from the default mirror', async () => {
    const res = await mirror.fetch('/v2/library/hello/manifests/1', { headers: { Accept: DOCKER_MANIFEST } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), DOCKER_MANIFEST);
    assert.equal(res.headers.get('docker-content-digest'), dockerImage.digest);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), dockerImage.bytes);
    // cached under the prefixed name, so both spellings share one copy
    assert.ok(await mirror.stored(`repositories/docker.io/library/hello/_manifests/tags/1/current/link`));
    const layer = await mirror.fetch(`/v2/library/hello/blobs/${dockerImage.layers[0]}`);
    assert.equal(await sha256OfBody(layer), dockerImage.layers[0]);
  });

  it('pushes under a mirror prefix are refused with DENIED; other names stay pushable', async () => {
    const post = await mirror.fetch('/v2/docker.io/library/hello/blobs/uploads/', { method: 'POST' });
    assert.equal(post.status, 403);
    const body = (await post.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]!.code, 'DENIED');
    assert.match(body.errors[0]!.message, /mirror prefix docker\.io\//);
    await pushImage(mirror, 'ours/app', 'v1');
    assert.equal((await mirror.fetch('/v2/ours/app/manifests/v1')).status, 200, 'a local repository is not sent to the default mirror');
  });

  it('the web UI API marks mirrored repositories with their upstream', async () => {
    const repos = (await (await mirror.fetch('/ui/api/repositories')).json()) as { items: { name: string; mirror?: { upstream: string } }[] };
    const byName = new Map(repos.items.map((r) => [r.name, r.mirror?.upstream]));
    assert.equal(byName.get('docker.io/library/hello'), proxy.url);
    assert.ok(byName.has('ours/app'));
    assert.equal(byName.get('ours/app'), undefined, 'a pushed repository is no mirror');
  });

  it('signs in upstream: Basic with the credentials file, the Bearer token flow anonymously and with the credentials', async () => {
    assert.ok(proxy.tokensIssued > 0, 'the anonymous token flow ran for the docker.io pulls above');
    const b = await mirror.fetch('/v2/b.example/team/app/manifests/v1');
    assert.equal(b.status, 200, await b.clone().text());
    const viaToken = await mirror.fetch('/v2/c.example/org/tool/manifests/v2');
    assert.equal(viaToken.status, 200, await viaToken.clone().text());
    const direct = await withTokens.fetch('/v2/org/tool/manifests/v2');
    assert.equal(viaToken.headers.get('docker-content-digest'), direct.headers.get('docker-content-digest'));
    const unsigned = await fetch(`${withTokens.url}/v2/org/tool/manifests/v2`);
    assert.equal(unsigned.status, 401);
    assert.match(String(unsigned.headers.get('www-authenticate')), /^Bearer realm=/, 'the upstream really asks for a token');
  });

  it('16 concurrent cold pulls of a 256 MiB blob: one upstream fetch, every client gets verified bytes, a client that leaves stops nobody', async () => {
    const big = randomBytes(256 * MiB);
    const digest = await pushBlob(asTestRegistry(dist.url), 'big/layer', big);
    const quitter = await mirror.fetch(`/v2/docker.io/big/layer/blobs/${digest}`);
    const reader = (quitter.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel(); // goes away after the first bytes
    const digests = await Promise.all(Array.from({ length: 16 }, async () => sha256OfBody(await mirror.fetch(`/v2/docker.io/big/layer/blobs/${digest}`))));
    assert.deepEqual(new Set(digests), new Set([digest]));
    assert.equal(proxy.blobGets.get(digest), 1, 'one upstream GET');
    assert.equal(proxy.blobBytes.get(digest), big.length, 'the bytes once');
  });

  it('follows a 307 to blob storage on another host without sending it the upstream token', async () => {
    const data = randomBytes(2 * MiB);
    const digest = await pushBlob(asTestRegistry(dist.url), 'cdn/layer', data);
    proxy.redirectBlobsTo = cdn.url;
    try {
      assert.equal(await sha256OfBody(await mirror.fetch(`/v2/docker.io/cdn/layer/blobs/${digest}`)), digest);
    } finally {
      proxy.redirectBlobsTo = undefined;
    }
    assert.equal(cdn.blobGets.get(digest), 1, 'the bytes came from the other host');
    assert.equal(cdn.withAuthorization, 0, 'no Authorization went there');
  });

  it('a client gets the bytes as they arrive, before the upstream has sent the whole blob', async () => {
    const data = randomBytes(8 * MiB);
    const digest = await pushBlob(asTestRegistry(dist.url), 'slow/layer', data);
    let open!: () => void;
    proxy.gate = { digest, after: 2 * MiB, open: new Promise<void>((r) => (open = r)) };
    try {
      const res = await mirror.fetch(`/v2/docker.io/slow/layer/blobs/${digest}`);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const hash = createHash('sha256');
      let received = 0;
      const deadline = Date.now() + 10_000;
      // each read bounded: a mirror that waited for the whole blob would send nothing here
      while (received < MiB && Date.now() < deadline) {
        const next = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), Math.max(0, deadline - Date.now())).unref())]);
        if (next === null || next.done) break;
        hash.update(next.value);
        received += next.value.length;
      }
      assert.ok(received >= MiB, `got ${received} bytes while the upstream held back`);
      assert.ok((proxy.blobBytes.get(digest) ?? 0) < data.length, 'the upstream had not sent it all yet');
      open();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        hash.update(value);
      }
      assert.equal(`sha256:${hash.digest('hex')}`, digest);
    } finally {
      open();
      proxy.gate = undefined;
    }
  });

  it('a connection that drops mid-blob is resumed with a Range request for the rest', async () => {
    const data = randomBytes(8 * MiB);
    const digest = await pushBlob(asTestRegistry(dist.url), 'flaky/layer', data);
    proxy.cutOnce = { digest, after: 3 * MiB };
    assert.equal(await sha256OfBody(await mirror.fetch(`/v2/docker.io/flaky/layer/blobs/${digest}`)), digest);
    assert.equal(proxy.blobGets.get(digest), 2);
    assert.ok(proxy.ranges.some((r) => /^bytes=[1-9]\d*-$/.test(r)), `ranges seen: ${proxy.ranges.join(', ')}`);
    assert.ok(mirror.logs.some((l) => l.includes(digest) && /resuming/.test(l)), mirror.logs.join('\n'));
  });

  it('a blob whose upstream bytes do not match its digest is neither served whole nor stored', async () => {
    const data = randomBytes(3 * MiB);
    const digest = await pushBlob(asTestRegistry(dist.url), 'bad/layer', data);
    proxy.corrupt = digest;
    const res = await mirror.fetch(`/v2/docker.io/bad/layer/blobs/${digest}`);
    await assert.rejects(res.arrayBuffer(), 'the body breaks off before its last byte');
    assert.equal(await mirror.stored(blobDataPath(digest)), null);
    assert.equal((await mirror.fetch(`/v2/docker.io/bad/layer/blobs/${digest}`, { method: 'HEAD' })).headers.get('docker-content-digest'), digest, 'the HEAD goes upstream: nothing cached');
    assert.ok(mirror.logs.some((l) => l.includes(digest) && /whose digest is/.test(l)), mirror.logs.join('\n'));
    proxy.corrupt = undefined;
  });

  it('upstream down: cached tags and digests still pull (with a Warning), an uncached one fails fast and clearly', async () => {
    const cachedIndex = await mirror.fetch('/v2/docker.io/tools/multi/manifests/1');
    assert.equal(cachedIndex.status, 200);
    await proxy.stop();
    const started = Date.now();
    const byTag = await mirror.fetch('/v2/docker.io/tools/multi/manifests/1');
    assert.equal(byTag.status, 200);
    assert.match(String(byTag.headers.get('warning')), /^110 .*upstream unavailable/);
    assert.equal(byTag.headers.get('docker-content-digest'), index.indexDigest);
    assert.equal((await mirror.fetch(`/v2/docker.io/tools/multi/manifests/${index.indexDigest}`)).status, 200);
    const missing = await mirror.fetch('/v2/docker.io/tools/other/manifests/1');
    assert.equal(missing.status, 502);
    const body = (await missing.json()) as { errors: { message: string }[] };
    assert.match(body.errors[0]!.message, /not cached and the upstream failed: .*unreachable/);
    assert.ok(Date.now() - started < 10_000, 'no hang');
    assert.ok(mirror.logs.some((l) => /served docker\.io\/tools\/multi:1 from the cache/.test(l)));
    assert.equal(await errorCode(await mirror.fetch(`/v2/docker.io/tools/other/blobs/${sha256('nothing')}`)), 'UNKNOWN');
  });
});
