import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OCI_MANIFEST, pushBlob, startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { TempDirs } from '../helpers/tmp.js';
import { FilesystemDriver } from '../../src/registry/storage/filesystem/driver.js';
import { collectGarbage } from '../../src/registry/gc/collect.js';
import { GcBusyError } from '../../src/registry/gc/trash.js';
import { assertConsistent, blobFile, gc, hasBlob, pull, pushImage, pushIndex, putManifest, imageDoc, snapshot, status, v2 } from './helpers.js';

describe('garbage collection', () => {
  let reg: TestRegistry;
  const tmp = new TempDirs();
  after(() => tmp.cleanup());
  before(async () => {
    reg = await startTestRegistry();
  });
  after(async () => reg.close());

  it('keeps an untagged image by default (its revision is a root) and frees it with deleteUntagged', async () => {
    const kept = await pushImage(reg, 'untag/app', 'tagged', { tag: 'v1', layers: ['shared layer', 'only in v1'] });
    const loose = await pushImage(reg, 'untag/app', 'untagged', { layers: ['shared layer', 'only in the untagged one'] });
    const onlyLoose = loose.all.filter((d) => !kept.all.includes(d));
    assert.equal(onlyLoose.length, 3); // manifest, config, one layer

    const plain = await gc(reg.dataDir);
    assert.deepEqual(plain.deletedBlobs, []);
    assert.deepEqual(plain.deletedManifests, []);
    for (const d of loose.all) assert.ok(hasBlob(reg.dataDir, d));
    await pull(reg, 'untag/app', loose.digest);

    const report = await gc(reg.dataDir, { deleteUntagged: true });
    assert.deepEqual(report.deletedManifests, [{ repo: 'untag/app', digest: loose.digest }]);
    assert.deepEqual(report.deletedBlobs.map((b) => b.digest).sort(), [...onlyLoose].sort());
    assert.equal(report.freedBytes, report.deletedBlobs.reduce((n, b) => n + b.size, 0));
    assert.ok(report.freedBytes > 0);
    for (const d of onlyLoose) assert.ok(!hasBlob(reg.dataDir, d), `${d} deleted`);
    assert.equal(await status(reg, `/v2/untag/app/manifests/${loose.digest}`), 404);
    for (const d of onlyLoose.slice(1)) {
      assert.equal(await status(reg, `/v2/untag/app/blobs/${d}`, 'HEAD'), 404);
      assert.equal(await status(reg, `/v2/untag/app/blobs/${d}`), 404);
    }
    assert.deepEqual(await pull(reg, 'untag/app', 'v1'), kept.all);
    assertConsistent(reg.dataDir);
  });

  it("keeps a multi-arch index's untagged children when only the index is tagged", async () => {
    const amd = await pushImage(reg, 'multi/arch', 'amd64');
    const arm = await pushImage(reg, 'multi/arch', 'arm64');
    const index = await pushIndex(reg, 'multi/arch', [amd, arm], 'latest');
    const stray = await pushImage(reg, 'multi/arch', 'stray');
    const report = await gc(reg.dataDir, { deleteUntagged: true });
    assert.deepEqual(report.deletedManifests, [{ repo: 'multi/arch', digest: stray.digest }]);
    assert.deepEqual(report.deletedBlobs.map((b) => b.digest).sort(), [...stray.all].sort());
    const pulled = await pull(reg, 'multi/arch', 'latest');
    assert.deepEqual(new Set(pulled), new Set([index.digest, ...amd.all, ...arm.all]));
    assertConsistent(reg.dataDir);
  });

  it('keeps referrers of a tagged image (and referrers of those) with their blobs, drops referrers of untagged ones', async () => {
    const image = await pushImage(reg, 'signed/app', 'image', { tag: 'v1' });
    const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, size: image.size };
    const empty = '{}';
    const emptyDigest = await pushBlob(reg, 'signed/app', empty);
    const sigBody = `signature over ${image.digest}`;
    const sigBlob = await pushBlob(reg, 'signed/app', sigBody);
    const sig = await putManifest(
      reg,
      'signed/app',
      imageDoc({ digest: emptyDigest, size: 2, mediaType: 'application/vnd.oci.empty.v1+json' }, [{ digest: sigBlob, size: sigBody.length }], {
        artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
        subject,
      }),
    );
    const attBody = 'attestation of the signature';
    const attBlob = await pushBlob(reg, 'signed/app', attBody);
    const att = await putManifest(
      reg,
      'signed/app',
      imageDoc({ digest: emptyDigest, size: 2, mediaType: 'application/vnd.oci.empty.v1+json' }, [{ digest: attBlob, size: attBody.length }], {
        artifactType: 'application/vnd.example.attestation',
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sig.digest, size: sig.bytes.length },
      }),
    );
    const old = await pushImage(reg, 'signed/app', 'old');
    const orphanBody = 'signature of an untagged image';
    const orphanBlob = await pushBlob(reg, 'signed/app', orphanBody);
    const orphanSig = await putManifest(
      reg,
      'signed/app',
      imageDoc({ digest: emptyDigest, size: 2, mediaType: 'application/vnd.oci.empty.v1+json' }, [{ digest: orphanBlob, size: orphanBody.length }], {
        artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: old.digest, size: old.size },
      }),
    );

    const report = await gc(reg.dataDir, { deleteUntagged: true });
    assert.deepEqual(
      report.deletedManifests.map((m) => m.digest).sort(),
      [old.digest, orphanSig.digest].sort(),
    );
    assert.deepEqual(report.deletedBlobs.map((b) => b.digest).sort(), [...old.all, orphanSig.digest, orphanBlob].sort());
    for (const d of [sig.digest, att.digest, sigBlob, attBlob, emptyDigest]) assert.ok(hasBlob(reg.dataDir, d), d);
    await pull(reg, 'signed/app', sig.digest);
    await pull(reg, 'signed/app', att.digest);
    const referrers = (await (await reg.fetch(`/v2/signed/app/referrers/${image.digest}`)).json()) as { manifests: { digest: string }[] };
    assert.deepEqual(referrers.manifests.map((m) => m.digest), [sig.digest]);
    assertConsistent(reg.dataDir);
  });

  it('a dry run deletes nothing and reports exactly what the real run then deletes', async () => {
    await pushImage(reg, 'dry/run', 'keep', { tag: 'v1' });
    await pushImage(reg, 'dry/run', 'drop');
    await pushBlob(reg, 'dry/run', 'an orphan blob, linked but in no manifest');
    const before = snapshot(reg.dataDir);
    const dry = await gc(reg.dataDir, { deleteUntagged: true, dryRun: true });
    assert.deepEqual(snapshot(reg.dataDir), before, 'nothing changed on disk');
    assert.ok(dry.deletedBlobs.length >= 4 && dry.dryRun);
    const real = await gc(reg.dataDir, { deleteUntagged: true });
    assert.deepEqual(real.deletedBlobs, dry.deletedBlobs);
    assert.deepEqual(real.deletedManifests, dry.deletedManifests);
    assert.equal(real.freedBytes, dry.freedBytes);
    assert.equal(real.removedLayerLinks, dry.removedLayerLinks);
    assert.equal(real.markedBlobs, dry.markedBlobs);
    assertConsistent(reg.dataDir);
  });

  it("keeps and lists repositories whose names end in .tmp (a valid name, not one of our temp files)", async () => {
    const data = await tmp.make('rs-gc-');
    const own = await startTestRegistry({ dataDir: data });
    try {
      const nested = await pushImage(own, 'tools/build.tmp', 'nested', { tag: 'v1' });
      const top = await pushImage(own, 'app.tmp', 'top level', { tag: 'v1' });
      const report = await gc(data, { deleteUntagged: true, graceMs: 0 });
      assert.deepEqual(report.deletedBlobs, []);
      assert.deepEqual(report.deletedManifests, []);
      assert.deepEqual(await pull(own, 'tools/build.tmp', 'v1'), nested.all);
      assert.deepEqual(await pull(own, 'app.tmp', 'v1'), top.all);
      const catalog = await own.fetch('/v2/_catalog');
      assert.deepEqual(await catalog.json(), { repositories: ['app.tmp', 'tools/build.tmp'] });
      assertConsistent(data);
    } finally {
      await own.close();
    }
  });

  it('removes the partial upload files a killed registry left in blob folders, once they are old', async () => {
    const data = await tmp.make('rs-gc-');
    const own = await startTestRegistry({ dataDir: data });
    try {
      const kept = await pushImage(own, 'temps/app', 'kept', { tag: 'v1' });
      const folder = (hex: string) => path.join(data, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex);
      const old = folder('a'.repeat(64));
      const fresh = folder('b'.repeat(64));
      for (const dir of [old, fresh]) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, 'data.0123abcd0000.tmp'), 'half of a layer');
      }
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
      utimesSync(path.join(old, 'data.0123abcd0000.tmp'), twoHoursAgo, twoHoursAgo);
      const dry = await gc(data, { dryRun: true });
      assert.equal(dry.removedTempFiles, 1);
      assert.ok(existsSync(path.join(old, 'data.0123abcd0000.tmp')), 'a dry run removes nothing');
      const report = await gc(data, { graceMs: 0 });
      assert.equal(report.removedTempFiles, 1, 'only the old one: a fresh file may be an upload under way');
      assert.equal(existsSync(path.join(old, 'data.0123abcd0000.tmp')), false);
      assert.ok(existsSync(path.join(fresh, 'data.0123abcd0000.tmp')));
      assert.deepEqual(await pull(own, 'temps/app', 'v1'), kept.all);
    } finally {
      await own.close();
    }
  });

  it('the grace window protects young blobs and manifests; they go once they are old enough', async () => {
    const data = await tmp.make('rs-gc-'); // a registry of its own: counts are exact
    const young = await startTestRegistry({ dataDir: data });
    try {
      const img = await pushImage(young, 'grace/app', 'young');
      const orphan = await pushBlob(young, 'grace/app', 'orphan, pushed just now');
      const spared = await gc(data, { deleteUntagged: true, graceMs: 3600_000 });
      assert.deepEqual(spared.deletedBlobs, []);
      assert.deepEqual(spared.deletedManifests, []);
      assert.equal(spared.keptYoung, 2); // the untagged revision (its blobs are marked through it) and the orphan
      assert.ok(hasBlob(data, orphan));
      await pull(young, 'grace/app', img.digest);
      // Two hours later the same data is old.
      const later = await gc(data, { deleteUntagged: true, graceMs: 3600_000, now: Date.now() + 2 * 3600_000 });
      assert.equal(later.deletedBlobs.length, img.all.length + 1);
      assertConsistent(data);
    } finally {
      await young.close();
    }
  });

  it('keeps linked blobs of a repository with an upload in progress, and never touches _uploads', async () => {
    const orphan = await pushBlob(reg, 'busy/repo', 'layer of a long push');
    // The layer was uploaded two hours ago; the push is still going (a session was written just now).
    const hoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(blobFile(reg.dataDir, orphan), hoursAgo, hoursAgo);
    utimesSync(path.join(v2(reg.dataDir), `repositories/busy/repo/_layers/sha256/${orphan.slice(7)}/link`), hoursAgo, hoursAgo);
    const post = await reg.fetch('/v2/busy/repo/blobs/uploads/', { method: 'POST' });
    assert.equal(post.status, 202);
    const location = post.headers.get('location')!;
    const report = await gc(reg.dataDir, { graceMs: 3600_000 });
    assert.ok(!report.deletedBlobs.some((b) => b.digest === orphan));
    assert.ok(hasBlob(reg.dataDir, orphan));
    assert.equal((await reg.fetch(location)).status, 204, 'upload session intact');
    // Once the session is older than the grace window too, the orphan goes; the session stays.
    const later = await gc(reg.dataDir, { graceMs: 3600_000, now: Date.now() + 2 * 3600_000 });
    assert.ok(later.deletedBlobs.some((b) => b.digest === orphan));
    assert.equal((await reg.fetch(location)).status, 204, 'upload session still intact');
    assertConsistent(reg.dataDir);
  });

  it('removes links to blobs that are missing, so HEAD and GET agree', async () => {
    const digest = await pushBlob(reg, 'dangling/repo', 'will vanish');
    const img = await pushImage(reg, 'dangling/repo', 'img', { tag: 'v1' });
    rmSync(path.dirname(blobFile(reg.dataDir, digest)), { recursive: true });
    const report = await gc(reg.dataDir);
    assert.ok(report.removedLayerLinks >= 1);
    assert.equal(await status(reg, `/v2/dangling/repo/blobs/${digest}`, 'HEAD'), 404);
    await pull(reg, 'dangling/repo', 'v1');
    assert.ok(img);
    assertConsistent(reg.dataDir);
  });

  it('an index or tag pushed during a run keeps the untagged manifests (and referrers) it now needs', async () => {
    const amd = await pushImage(reg, 'late/multi', 'amd64');
    const arm = await pushImage(reg, 'late/multi', 'arm64');
    const subject = await pushImage(reg, 'late/signed', 'image');
    const cfg = await pushBlob(reg, 'late/signed', '{}');
    const sigBody = 'signature of a not yet tagged image';
    const sigBlob = await pushBlob(reg, 'late/signed', sigBody);
    const sig = await putManifest(
      reg,
      'late/signed',
      imageDoc({ digest: cfg, size: 2 }, [{ digest: sigBlob, size: sigBody.length }], {
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject.digest, size: subject.size },
      }),
    );
    const planned = await gc(reg.dataDir, { deleteUntagged: true, dryRun: true });
    const doomed = [amd.digest, arm.digest, subject.digest, sig.digest];
    for (const d of doomed) assert.ok(planned.deletedManifests.some((m) => m.digest === d), `${d} planned for deletion`);

    const report = await gc(reg.dataDir, {
      deleteUntagged: true,
      onPhase: async (p) => {
        if (p !== 'plan') return; // the scan saw all of them untagged; nothing has moved yet
        await pushIndex(reg, 'late/multi', [amd, arm], 'latest');
        const res = await reg.fetch(`/v2/late/signed/manifests/v1`, { method: 'PUT', body: await manifestBytes(subject.digest), headers: { 'Content-Type': OCI_MANIFEST } });
        assert.equal(res.status, 201);
      },
    });
    for (const d of doomed) assert.ok(!report.deletedManifests.some((m) => m.digest === d), `${d} kept`);
    assert.ok(report.restored >= doomed.length);
    await pull(reg, 'late/multi', 'latest');
    await pull(reg, 'late/signed', 'v1');
    await pull(reg, 'late/signed', sig.digest);
    const referrers = (await (await reg.fetch(`/v2/late/signed/referrers/${subject.digest}`)).json()) as { manifests: { digest: string }[] };
    assert.deepEqual(referrers.manifests.map((m) => m.digest), [sig.digest]);
    assertConsistent(reg.dataDir);

    async function manifestBytes(digest: string): Promise<Buffer> {
      const res = await reg.fetch(`/v2/late/signed/manifests/${digest}`, { headers: { Accept: OCI_MANIFEST } });
      return Buffer.from(await res.arrayBuffer());
    }
  });

  it('a run that fails half-way puts back what it moved aside', async () => {
    const loose = await pushImage(reg, 'fail/app', 'loose');
    await assert.rejects(
      gc(reg.dataDir, {
        deleteUntagged: true,
        onPhase: (p) => {
          if (p === 'recheck') throw new Error('disk on fire');
        },
      }),
      /disk on fire/,
    );
    for (const d of loose.all) assert.ok(hasBlob(reg.dataDir, d));
    await pull(reg, 'fail/app', loose.digest);
    assertConsistent(reg.dataDir);
  });

  it('refuses to run twice at once on one data directory', async () => {
    const driver = new FilesystemDriver(reg.dataDir);
    let second: Promise<unknown> | undefined;
    await collectGarbage({
      driver,
      graceMs: 0,
      settleMs: 0,
      onPhase: (p) => {
        if (p === 'scan') second = collectGarbage({ driver, graceMs: 0 }).then(() => 'ran', (e: unknown) => e);
      },
    });
    assert.ok((await second) instanceof GcBusyError);
    assertConsistent(reg.dataDir);
  });

  it('puts back what an interrupted run left aside', async () => {
    const img = await pushImage(reg, 'crash/app', 'img', { tag: 'v1' });
    // Simulate a run that died after moving a referenced layer and its link aside.
    const root = v2(reg.dataDir);
    const rel = path.relative(root, blobFile(reg.dataDir, img.layers[0]!));
    const linkRel = `repositories/crash/app/_layers/sha256/${img.layers[0]!.slice(7)}/link`;
    for (const r of [rel, linkRel]) {
      mkdirSync(path.dirname(path.join(root, '_gc/dead-run', r)), { recursive: true });
      renameSync(path.join(root, r), path.join(root, '_gc/dead-run', r));
    }
    writeFileSync(path.join(root, '_gc/lock'), JSON.stringify({ runId: 'dead-run', pid: 999_999_999, host: os.hostname(), startedAt: new Date().toISOString() }));
    assert.equal(await status(reg, `/v2/crash/app/blobs/${img.layers[0]}`), 404);
    const report = await gc(reg.dataDir);
    assert.equal(report.recovered, 2);
    await pull(reg, 'crash/app', 'v1');
    assertConsistent(reg.dataDir);
  });
});
