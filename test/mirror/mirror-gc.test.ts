// Housekeeping of the pull-through cache: the gc (the same run that collects everything else)
// forgets mirrored repositories nobody pulled from for --mirror-max-idle, and nothing else.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync } from 'node:fs';
import path from 'node:path';
import { collectGarbage } from '../../src/registry/gc/index.js';
import { blobDataPath, mirrorLastPullPath, STORAGE_ROOT } from '../../src/registry/storage/paths.js';
import { pushImage, startMirrorPair, type TestRegistry } from '../registry/harness.js';

const HOUR = 3600_000;

describe('gc --mirror-max-idle', () => {
  let upstream: TestRegistry;
  let mirror: TestRegistry;
  before(async () => {
    ({ upstream, mirror } = await startMirrorPair());
  });
  after(async () => {
    await mirror?.close();
    await upstream?.close();
  });

  it('removes what only an idle mirrored repository held, keeps recently pulled mirrors and pushed repositories, and a later pull fetches it again', async () => {
    const idle = await pushImage(upstream, 'team/idle', 'v1', { layers: ['idle layer bytes'] });
    const busy = await pushImage(upstream, 'team/busy', 'v1', { layers: ['busy layer bytes'] });
    const local = await pushImage(mirror, 'ours/app', 'v1', { layers: ['local layer bytes'] });
    for (const [name, image] of [['team/idle', idle], ['team/busy', busy]] as const) {
      assert.equal((await mirror.fetch(`/v2/up.example/${name}/manifests/v1`)).status, 200);
      assert.equal((await mirror.fetch(`/v2/up.example/${name}/blobs/${image.layers[0]}`)).status, 200);
    }
    // the gc runs "two hours from now": everything is past the grace window, and only the busy
    // repository was pulled within the last hour of that time
    const now = Date.now() + 2 * HOUR;
    const pulled = (name: string) => path.join(mirror.dataDir, STORAGE_ROOT, mirrorLastPullPath(name));
    utimesSync(pulled('up.example/team/busy'), new Date(now - 60_000), new Date(now - 60_000));
    const report = await collectGarbage({ driver: mirror.running.registry.driver, graceMs: 0, settleMs: 10, mirrorMaxIdleMs: HOUR, now });

    assert.equal(await mirror.stored(blobDataPath(idle.layers[0]!)), null, 'the idle mirror\'s layer is gone');
    assert.ok(report.deletedManifests.some((m) => m.repo === 'up.example/team/idle' && m.digest === idle.digest));
    assert.ok(await mirror.stored(blobDataPath(busy.layers[0]!)), 'a mirror pulled lately keeps its layer');
    assert.ok(await mirror.stored(blobDataPath(local.layers[0]!)), 'a pushed repository is never idle');
    assert.equal((await mirror.fetch('/v2/ours/app/manifests/v1')).status, 200);

    const again = await mirror.fetch(`/v2/up.example/team/idle/manifests/v1`);
    assert.equal(again.status, 200, 'the forgotten manifest comes back from upstream');
    assert.equal(again.headers.get('docker-content-digest'), idle.digest);
    assert.equal((await mirror.fetch(`/v2/up.example/team/idle/blobs/${idle.layers[0]}`)).status, 200);
  });
});
