import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { blobsNamed, closeSnapshot, selectRepositories, type BackupSnapshot } from '../../src/registry/backup/snapshot.js';
import type { ManifestRefs } from '../../src/registry/gc/references.js';

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

const snapshot: BackupSnapshot = {
  takenAt: '2026-12-06T00:00:00.000Z',
  repositories: {
    app: { tags: { v1: d(1), v2: d(2), multi: d(3) }, manifests: [d(1), d(2), d(3)], layers: [d(10), d(11), d(20)] },
    other: { tags: { latest: d(5) }, manifests: [d(5)], layers: [d(50)] },
  },
};
const refs = new Map<string, ManifestRefs>([
  [d(1), { blobs: [d(10), d(11)], children: [] }],
  [d(2), { blobs: [d(20), d(21)], children: [] }],
  [d(3), { blobs: [], children: [d(1), d(2)] }],
  [d(5), { blobs: [d(50)], children: [] }],
]);

describe('backup snapshot closure', () => {
  it('keeps everything when every blob is present', () => {
    const all = new Set([1, 2, 3, 5, 10, 11, 20, 21, 50].map(d));
    const closed = closeSnapshot(snapshot, (x) => all.has(x), refs);
    assert.deepEqual(closed.dropped, []);
    assert.deepEqual(closed.snapshot.repositories.app!.tags, snapshot.repositories.app!.tags);
    // a blob a kept manifest needs is linked into its repository even when the scan had no link
    assert.ok(closed.snapshot.repositories.app!.layers.includes(d(21)));
  });

  it('drops a manifest whose blob vanished, the index over it and their tags, and nothing else', () => {
    const present = new Set([1, 2, 3, 5, 10, 11, 20, 50].map(d)); // d(21), a layer of v2, was deleted meanwhile
    const closed = closeSnapshot(snapshot, (x) => present.has(x), refs);
    assert.deepEqual(closed.snapshot.repositories.app!.tags, { v1: d(1) });
    assert.deepEqual(closed.snapshot.repositories.app!.manifests, [d(1)]);
    assert.deepEqual(closed.dropped.sort(), [`app:multi`, `app:v2`, `app@${d(2)}`, `app@${d(3)}`].sort());
    assert.deepEqual(closed.snapshot.repositories.other, snapshot.repositories.other);
    // whatever stays names only blobs that are present
    for (const b of blobsNamed(closed.snapshot).keys()) assert.ok(present.has(b), b);
  });

  it('drops a repository with nothing left, and a manifest whose bytes were never read', () => {
    const present = new Set([1, 2, 3, 10, 11, 20, 21, 50].map(d)); // d(5), other's manifest, is gone
    const noRefs = new Map(refs);
    noRefs.delete(d(5));
    const closed = closeSnapshot(snapshot, (x) => present.has(x), noRefs);
    assert.equal(closed.snapshot.repositories.other, undefined);
    assert.ok(closed.dropped.includes('other:latest'));
  });

  it('selects named repositories and names the ones a backup has when one is unknown', () => {
    assert.deepEqual(Object.keys(selectRepositories(snapshot, ['other']).repositories), ['other']);
    assert.throws(() => selectRepositories(snapshot, ['nope']), /no repository nope \(it has app, other\)/);
  });
});
