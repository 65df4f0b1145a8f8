import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { pushBlob, sha256, startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { distributionBinary, distributionConfig, startDistribution } from '../helpers/registries.js';
import { TempDirs } from '../helpers/tmp.js';
import { assertConsistent, blobFile, gc, hasBlob, imageDoc, pull, pushImage, pushIndex, status, v2 } from './helpers.js';

const run = promisify(execFile);

/** Writes files the way distribution lays them out, all dated two days ago. */
class Layout {
  constructor(readonly dataDir: string) {}
  private write(rel: string, content: string | Buffer) {
    const p = path.join(v2(this.dataDir), rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  blob(content: string, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
    const hex = createHash(algorithm).update(content).digest('hex');
    this.write(`blobs/${algorithm}/${hex.slice(0, 2)}/${hex}/data`, content);
    return `${algorithm}:${hex}`;
  }
  layer(repo: string, digest: string) {
    this.write(`repositories/${repo}/_layers/${digest.replace(':', '/')}/link`, digest);
  }
  manifest(repo: string, doc: object, tag?: string): string {
    const digest = this.blob(JSON.stringify(doc));
    this.write(`repositories/${repo}/_manifests/revisions/${digest.replace(':', '/')}/link`, digest);
    if (tag) {
      this.write(`repositories/${repo}/_manifests/tags/${tag}/current/link`, digest);
      this.write(`repositories/${repo}/_manifests/tags/${tag}/index/${digest.replace(':', '/')}/link`, digest);
    }
    return digest;
  }
  image(repo: string, seed: string, tag?: string): { digest: string; all: string[] } {
    const config = JSON.stringify({ seed });
    const layers = [`${seed} layer a`, `${seed} layer b`];
    const digests = [config, ...layers].map((c) => this.blob(c));
    digests.forEach((d) => this.layer(repo, d));
    const doc = imageDoc(
      { digest: digests[0]!, size: config.length },
      layers.map((l, i) => ({ digest: digests[i + 1]!, size: l.length })),
    );
    const digest = this.manifest(repo, doc, tag);
    return { digest, all: [digest, ...digests] };
  }
  /** Every file and folder two days old, as data written long ago. */
  age() {
    const old = new Date(Date.now() - 48 * 3600_000);
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        utimesSync(p, old, old);
      }
    };
    walk(v2(this.dataDir));
  }
}

describe('garbage collection over distribution-written data', () => {
  const tmp = new TempDirs();
  after(() => tmp.cleanup());

  it('handles nested names, digest folders, schema 1, sha512, temp files and uploads with the default grace', async () => {
    const dataDir = await tmp.make('rs-gc-layout-');
    const l = new Layout(dataDir);
    const app = l.image('org/team/app', 'app', 'v1');
    const team = l.image('org/team', 'team', 'stable'); // a repository whose child folder is another one
    const untagged = l.image('org/team/app', 'untagged');
    const fsLayers = ['schema1 layer one', 'schema1 layer two'].map((c) => l.blob(c));
    fsLayers.forEach((d) => l.layer('legacy', d));
    const schema1 = l.manifest('legacy', { schemaVersion: 1, name: 'legacy', tag: 'old', architecture: 'amd64', fsLayers: fsLayers.map((blobSum) => ({ blobSum })), history: [] }, 'old');
    const orphan512 = l.blob('an orphan addressed by sha512', 'sha512');
    l.layer('org/team/app', orphan512);
    const upload = `repositories/org/team/app/_uploads/${randomUUID()}`;
    mkdirSync(path.join(v2(dataDir), upload), { recursive: true });
    writeFileSync(path.join(v2(dataDir), upload, 'data'), 'half an upload');
    writeFileSync(path.join(v2(dataDir), upload, 'startedat'), new Date(Date.now() - 48 * 3600_000).toISOString());
    const tmpFile = `repositories/org/team/app/_manifests/revisions/sha256/${app.digest.slice(7)}/link.1a2b3c.tmp`;
    writeFileSync(path.join(v2(dataDir), tmpFile), 'junk');
    l.age();
    const young = l.image('org/team/app', 'pushed a minute ago'); // untagged but young: spared

    const report = await gc(dataDir, { deleteUntagged: true, graceMs: 3600_000 });
    assert.deepEqual(report.deletedManifests, [{ repo: 'org/team/app', digest: untagged.digest }]);
    assert.deepEqual(report.deletedBlobs.map((b) => b.digest).sort(), [...untagged.all, orphan512].sort());
    for (const d of [...app.all, ...team.all, schema1, ...fsLayers, ...young.all]) assert.ok(hasBlob(dataDir, d), d);
    assert.ok(existsSync(path.join(v2(dataDir), upload, 'data')), '_uploads untouched');
    assert.ok(existsSync(path.join(v2(dataDir), tmpFile)), 'foreign temp files untouched');
    assert.ok(!existsSync(path.dirname(blobFile(dataDir, untagged.all[1]!))), 'blob folder removed');
    assert.ok(!existsSync(path.join(v2(dataDir), `repositories/org/team/app/_manifests/revisions/sha256/${untagged.digest.slice(7)}`)));
    assertConsistent(dataDir);

    const reg = await startTestRegistry({ dataDir });
    try {
      await pull(reg, 'org/team/app', 'v1');
      await pull(reg, 'org/team', 'stable');
      await pull(reg, 'org/team/app', young.digest);
      for (const d of fsLayers) assert.equal(await status(reg, `/v2/legacy/blobs/${d}`), 200);
      assert.equal(await status(reg, `/v2/org/team/app/manifests/${untagged.digest}`), 404);
    } finally {
      await reg.close();
    }
  });

  it('agrees with distribution 2.8 on what is garbage, and distribution keeps serving everything after our run', { skip: !existsSync(distributionBinary) }, async () => {
    const dist = await startDistribution();
    const client = { url: dist.url, fetch: (p: string, init: RequestInit = {}) => fetch(new URL(p, dist.url), { ...init, redirect: 'manual' }) };
    const reg = client as unknown as TestRegistry;
    const confDir = await tmp.make('rs-gc-dist-');
    const config = path.join(confDir, 'config.yml');
    writeFileSync(config, distributionConfig({ dataDir: dist.dataDir, port: 1 }));
    const theirs = async (...flags: string[]) => {
      const { stdout } = await run(distributionBinary, ['garbage-collect', '--dry-run', ...flags, config]);
      return [...stdout.matchAll(/^blob eligible for deletion: (\S+)$/gm)].map((m) => m[1]!).sort();
    };
    try {
      const tagged = await pushImage(reg, 'interop/app', 'tagged', { tag: 'v1', layers: ['shared', 'tagged only'] });
      const loose = await pushImage(reg, 'interop/app', 'untagged', { layers: ['shared', 'untagged only'] });
      const orphan = await pushBlob(reg, 'interop/other', 'an orphan blob');
      const ours = await gc(dist.dataDir, { deleteUntagged: true, dryRun: true });
      assert.deepEqual(ours.deletedBlobs.map((b) => b.digest).sort(), await theirs('--delete-untagged'));
      assert.deepEqual(ours.deletedBlobs.map((b) => b.digest).sort(), [...loose.all.filter((d) => !tagged.all.includes(d)), orphan].sort());

      // distribution 2.8 deletes the untagged children of a tagged index (and their layers); we keep them.
      const children = [await pushImage(reg, 'interop/multi', 'amd64'), await pushImage(reg, 'interop/multi', 'arm64')];
      await pushIndex(reg, 'interop/multi', children, 'latest');
      const report = await gc(dist.dataDir, { deleteUntagged: true }); // while distribution serves
      assert.ok(report.deletedBlobs.length === ours.deletedBlobs.length);
      assert.deepEqual(await theirs(), [], 'distribution finds nothing left to collect');
      await pull(client, 'interop/app', 'v1');
      await pull(client, 'interop/multi', 'latest');
      assert.equal(await status(reg, `/v2/interop/app/manifests/${loose.digest}`), 404);
      assert.equal(await status(reg, `/v2/interop/other/blobs/${orphan}`), 404);
      assertConsistent(dist.dataDir);
    } finally {
      await dist.stop();
    }
  });

  it('a blob that vanishes between the link check and the open answers 404 BLOB_UNKNOWN, not a broken 200', async () => {
    const reg = await startTestRegistry();
    try {
      const body = Buffer.alloc(256 * 1024, 7);
      const digest = await pushBlob(reg, 'vanish/repo', body);
      const blobs = reg.running.registry.blobs;
      const original = blobs.sizeInRepo.bind(blobs);
      blobs.sizeInRepo = async (name, d) => {
        const size = await original(name, d);
        rmSync(path.dirname(blobFile(reg.dataDir, d)), { recursive: true, force: true }); // GC strikes here
        return size;
      };
      for (const headers of [{}, { Range: 'bytes=10-20' }] as Record<string, string>[]) {
        const res = await reg.fetch(`/v2/vanish/repo/blobs/${digest}`, { headers });
        assert.equal(res.status, 404);
        assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'BLOB_UNKNOWN');
      }
      blobs.sizeInRepo = original;
      // And once a run has cleaned up, HEAD agrees with GET.
      await gc(reg.dataDir);
      assert.equal(await status(reg, `/v2/vanish/repo/blobs/${digest}`, 'HEAD'), 404);
      assert.equal(sha256(body), digest);
      assertConsistent(reg.dataDir);
    } finally {
      await reg.close();
    }
  });
});
