// skopeo (containers/image) against our registry: OCI images and indexes must round-trip with
// identical digests, and an htpasswd-protected registry must refuse anonymous pushes.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertFixturesRoundTrip, assertImageRoundTrip, getTagsList, pushFixtures, withLogs } from '../helpers/fixtures.js';
import { writeHtpasswd } from '../helpers/htpasswd.js';
import { buildOciImage } from '../helpers/oci.js';
import { startOurRegistry, type RunningRegistry } from '../helpers/registries.js';
import { dockerRef, ociRef, skopeoCopy, skopeoInspectRaw, writeAuthfile } from '../helpers/skopeo.js';
import { TempDirs } from '../helpers/tmp.js';
import { freshBucket, storageKinds } from '../helpers/s3-store.js';

for (const storage of storageKinds()) describe(`skopeo ↔ our registry (no auth, ${storage})`, () => {
  const tmp = new TempDirs();
  let reg: RunningRegistry | undefined;

  before(async () => {
    if (storage === 'filesystem') reg = await startOurRegistry();
    else {
      const dir = await tmp.make('rs-s3-');
      const bucket = await freshBucket(dir);
      await writeFile(join(dir, 'upload-secret'), 'skopeo-upload-secret-0123456789');
      reg = await startOurRegistry({
        extraArgs: ['--storage', bucket.url, '--s3-credentials', bucket.credentialsFile, '--upload-secret-file', join(dir, 'upload-secret')],
      });
    }
  });
  after(async () => {
    await reg?.stop();
    await tmp.cleanup();
  });

  test('multi-layer image and multi-arch index round-trip with identical digests', async () => {
    const r = reg!;
    await withLogs(r, async () => {
      const fx = await pushFixtures(r, tmp, 'e2e/skopeo/app', { imageTags: ['v1', 'latest'], indexTag: 'multi' });
      await assertFixturesRoundTrip(r, tmp, fx);
      const tags = await getTagsList(r, fx.repo);
      assert.equal(tags.name, fx.repo);
      assert.deepEqual(tags.tags, ['latest', 'multi', 'v1']);
    });
  });

  test('registry-to-registry copy into another repository (blob mount / existence checks)', async () => {
    const r = reg!;
    await withLogs(r, async () => {
      const layout = await tmp.make('rs-oci-src-');
      const image = await buildOciImage(layout, 'one');
      await skopeoCopy(ociRef(layout, 'one'), dockerRef(r.host, 'e2e/skopeo/source', 'one'));
      // the blobs now exist in the registry: skopeo tries a cross-repository mount or skips them
      await skopeoCopy(dockerRef(r.host, 'e2e/skopeo/source', 'one'), dockerRef(r.host, 'e2e/skopeo/copy', 'two'), { preserveDigests: true });
      await assertImageRoundTrip(r, tmp, 'e2e/skopeo/copy', 'two', image);
      // pushing the identical image again is a no-op that must still succeed
      await skopeoCopy(ociRef(layout, 'one'), dockerRef(r.host, 'e2e/skopeo/source', 'one'));
      await assertImageRoundTrip(r, tmp, 'e2e/skopeo/source', 'one', image);
    });
  });
});

describe('skopeo ↔ our registry (htpasswd)', () => {
  const tmp = new TempDirs();
  const user = 'e2e-user';
  const password = `pw-${Math.random().toString(36).slice(2)}-Z9!`;
  let reg: RunningRegistry | undefined;
  let authfile = '';
  let badAuthfile = '';

  before(async () => {
    const dir = await tmp.make('rs-auth-');
    const htpasswd = await writeHtpasswd(join(dir, 'htpasswd'), [{ user, password }]);
    reg = await startOurRegistry({ htpasswd, realm: 'e2e-realm' });
    authfile = await writeAuthfile(join(dir, 'auth.json'), reg.host, user, password);
    badAuthfile = await writeAuthfile(join(dir, 'bad-auth.json'), reg.host, user, `${password}-wrong`);
  });
  after(async () => {
    await reg?.stop();
    await tmp.cleanup();
  });

  test('/v2/ challenges anonymous clients with Basic auth', async () => {
    const r = reg!;
    await withLogs(r, async () => {
      const res = await fetch(`${r.url}/v2/`, { signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="e2e-realm"/i);
    });
  });

  test('push without credentials fails, with wrong password fails', async () => {
    const r = reg!;
    await withLogs(r, async () => {
      const layout = await tmp.make('rs-oci-src-');
      await buildOciImage(layout, 'v1', { layerSizes: [512] });
      const dest = dockerRef(r.host, 'e2e/private/app', 'v1');
      await assert.rejects(skopeoCopy(ociRef(layout, 'v1'), dest), /unauthorized|authentication required|401/i);
      await assert.rejects(skopeoCopy(ociRef(layout, 'v1'), dest, { destAuthfile: badAuthfile }), /unauthorized|authentication required|401/i);
      // and nothing became visible
      await assert.rejects(skopeoInspectRaw(dest, { authfile }), /manifest unknown|not found|404/i);
    });
  });

  test('push and pull with credentials round-trip; anonymous pull is refused', async () => {
    const r = reg!;
    await withLogs(r, async () => {
      const fx = await pushFixtures(r, tmp, 'e2e/private/app', { authfile });
      await assertFixturesRoundTrip(r, tmp, fx, { authfile });
      await assert.rejects(skopeoInspectRaw(dockerRef(r.host, fx.repo, 'v1')), /unauthorized|authentication required|401/i);
      const tags = await getTagsList(r, fx.repo, { user, password });
      assert.deepEqual(tags.tags, ['multi', 'v1']);
    });
  });
});
