// Payload-level backup and restore over the storage driver interface, against in-process
// registries on loopback: consistency under a push storm, incremental runs, --verify, the framed
// stream (and its interruption), and restore's refusal of a non-empty registry.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { blobFile, pull, pushImage } from '../gc/helpers.js';
import { FilesystemDriver } from '../../src/registry/storage/filesystem/driver.js';
import { blobDataPath } from '../../src/registry/storage/paths.js';
import { runBackup, runRestore, type BackupPhase } from '../../src/registry/backup/engine.js';
import { DriverSink, readBackupManifest, verifyBackup } from '../../src/registry/backup/sink.js';
import { receiveFrames, StreamSink } from '../../src/registry/backup/stream.js';
import { backupCommand, checkRestoreTarget } from '../../src/registry/backup/backup-command.js';
import type { BackupManifest } from '../../src/registry/backup/snapshot.js';

const STORM_PUSHES = 40;
const STORM_BUDGET_MS = 15_000;

const dirs: string[] = [];
const registries: TestRegistry[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
async function registry(dataDir?: string): Promise<TestRegistry> {
  const reg = await startTestRegistry(dataDir ? { dataDir } : {});
  registries.push(reg);
  return reg;
}
after(async () => {
  for (const r of registries) await r.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function openFrom(driver: FilesystemDriver) {
  return async (digest: string) => {
    const info = await driver.stat(blobDataPath(digest));
    return info ? { size: info.size, body: () => driver.reader(blobDataPath(digest)) } : null;
  };
}

async function restoreInto(backupDir: string, manifest: BackupManifest, repositories?: string[]): Promise<string> {
  const fresh = tempDir('rs-restored-');
  const backup = new FilesystemDriver(backupDir);
  const sink = new DriverSink(new FilesystemDriver(fresh));
  const { manifest: restored } = await runRestore({ manifest, open: openFrom(backup), source: backupDir, sink, ...(repositories ? { repositories } : {}) });
  assert.deepEqual(await sink.check(restored), []);
  return fresh;
}

describe('backup while the registry serves', () => {
  it('a push storm during the backup: every tag acknowledged before the snapshot pulls with its digest after a restore', async () => {
    const reg = await registry();
    const before = new Map<string, string>();
    for (let i = 0; i < 6; i++) before.set(`base:v${i}`, (await pushImage(reg, 'base', `base ${i}`, { tag: `v${i}` })).digest);

    const acked = new Map<string, string>(before);
    let stop = false;
    let pushes = 0;
    const deadline = Date.now() + STORM_BUDGET_MS;
    const storm = (async () => {
      while (!stop && pushes < STORM_PUSHES && Date.now() < deadline) {
        const i = pushes++;
        const p = await pushImage(reg, `storm/r${i % 3}`, `storm ${i}`, { tag: `t${i}` });
        acked.set(`storm/r${i % 3}:t${i}`, p.digest);
      }
    })();
    let ackedAtSnapshot = new Map<string, string>();
    const phases: BackupPhase[] = [];
    const backupDir = tempDir('rs-backup-');
    const { report, manifest } = await runBackup({
      source: reg.running.registry.driver,
      sink: new DriverSink(new FilesystemDriver(backupDir)),
      onPhase: async (phase) => {
        phases.push(phase);
        // let the storm get going while the blobs are copied
        if (phase === 'snapshot') {
          const until = Date.now() + 5000;
          while (pushes < 5 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
          ackedAtSnapshot = new Map(acked);
        }
      },
    });
    stop = true;
    await storm;
    assert.deepEqual(phases, ['blobs', 'snapshot', 'catch-up', 'finish']);
    assert.ok(ackedAtSnapshot.size > before.size, `the storm pushed during the backup (${ackedAtSnapshot.size} acknowledged)`);
    assert.deepEqual(report.dropped, []);
    assert.deepEqual(await readBackupManifest(new FilesystemDriver(backupDir)), manifest, 'backup.json describes the backup');

    const restored = await registry(await restoreInto(backupDir, manifest));
    for (const [ref, digest] of ackedAtSnapshot) {
      const [name, tag] = ref.split(':') as [string, string];
      const fetched = await pull(restored, name, tag);
      assert.equal(fetched[0], digest, `${ref} pulls with its digest after the restore`);
    }
    // nothing pushed after the snapshot is half there: every tag in the backup pulls completely
    for (const [name, repo] of Object.entries(manifest.repositories)) for (const tag of Object.keys(repo.tags)) await pull(restored, name, tag);
  });

  it('a blob deleted between the snapshot and the catch-up (a racing gc) leaves out what needs it, nothing else', async () => {
    const reg = await registry();
    const kept = await pushImage(reg, 'race', 'kept', { tag: 'kept' });
    let late: Awaited<ReturnType<typeof pushImage>> | undefined;
    const backupDir = tempDir('rs-backup-');
    const { report, manifest } = await runBackup({
      source: reg.running.registry.driver,
      sink: new DriverSink(new FilesystemDriver(backupDir)),
      onPhase: async (phase) => {
        if (phase === 'snapshot') late = await pushImage(reg, 'race', 'late', { tag: 'late' });
        if (phase === 'catch-up') rmSync(blobFile(reg.dataDir, late!.layers[0]!));
      },
    });
    assert.deepEqual(report.dropped.sort(), [`race:late`, `race@${late!.digest}`]);
    assert.deepEqual(manifest.repositories.race!.tags, { kept: kept.digest });
    assert.deepEqual((await verifyBackup(new FilesystemDriver(backupDir), manifest)).bad, []);
    const restored = await registry(await restoreInto(backupDir, manifest));
    assert.equal((await pull(restored, 'race', 'kept'))[0], kept.digest);
  });

  it('a second backup copies only the new blobs; --verify finds a damaged blob', async () => {
    const reg = await registry();
    for (let i = 0; i < 3; i++) await pushImage(reg, 'inc', `first ${i}`, { tag: `a${i}` });
    const backupDir = tempDir('rs-backup-');
    const sink = () => new DriverSink(new FilesystemDriver(backupDir));
    const first = await runBackup({ source: reg.running.registry.driver, sink: sink() });
    assert.equal(first.report.copiedBlobs, 12); // 3 × (manifest, config, 2 layers)
    const added = await pushImage(reg, 'inc', 'second', { tag: 'b' });
    const second = await runBackup({ source: reg.running.registry.driver, sink: sink() });
    assert.equal(second.report.copiedBlobs, added.all.length, 'only the new image');
    assert.equal(second.report.skippedBlobs, 12);
    assert.deepEqual(second.manifest.repositories.inc!.tags.b, added.digest);

    const backup = new FilesystemDriver(backupDir);
    assert.deepEqual((await verifyBackup(backup, second.manifest)).bad, []);
    // one byte changed, same size: an incremental run would not notice, the verify does
    const victim = blobFile(backupDir, added.layers[0]!);
    const bytes = readFileSync(victim);
    bytes[0] = bytes[0]! ^ 0xff;
    writeFileSync(victim, bytes);
    const verify = await verifyBackup(backup, second.manifest);
    assert.deepEqual(verify.bad.map((b) => b.digest), [added.layers[0]]);
    assert.match(verify.bad[0]!.problem, /hash to sha256:/);
    assert.equal(verify.checked, 16);
  });

  it('over a framed stream: an interrupted run keeps only complete blobs, the next one finishes', async () => {
    const reg = await registry();
    const images = [];
    for (let i = 0; i < 3; i++) images.push(await pushImage(reg, 'streamed', `s ${i}`, { tag: `v${i}`, layers: [`big layer ${i} `.repeat(50_000)] }));
    const backupDir = tempDir('rs-backup-');
    const local = new DriverSink(new FilesystemDriver(backupDir));

    // the sending end writes everything; the "channel" is cut after ~1.5 blobs' worth of bytes
    const sent = new PassThrough();
    const sending = runBackup({ source: reg.running.registry.driver, sink: new StreamSink(sent, new Set()) });
    const chunks: Buffer[] = [];
    for await (const c of sent.on('end', () => undefined)) {
      chunks.push(c as Buffer);
      if (Buffer.concat(chunks).length > 900_000) break;
    }
    sent.destroy();
    await sending.catch(() => undefined);
    const cut = Buffer.concat(chunks);
    await assert.rejects(receiveFrames(Readable.from([cut]), local), /ended before it was complete/);
    assert.equal(await readBackupManifest(local.driver), null, 'no backup.json: the backup is not complete');

    // the next run is told what the receiving end has; it sends the rest and finishes
    const have = new Set<string>();
    for (const img of images) for (const d of img.all) {
      const info = await local.driver.stat(blobDataPath(d));
      if (info) have.add(`${d} ${info.size}`);
    }
    assert.ok(have.size > 0 && have.size < 9, `some blobs arrived before the cut (${have.size})`);
    await local.removeUnfinished();
    const stream = new PassThrough();
    const [{ report }, manifest] = await Promise.all([runBackup({ source: reg.running.registry.driver, sink: new StreamSink(stream, have) }).finally(() => stream.end()), receiveFrames(stream, local)]);
    assert.equal(report.copiedBlobs, 9 - have.size); // 3 × (manifest, config, layer)
    assert.deepEqual((await verifyBackup(local.driver, manifest)).bad, []);
    const restored = await registry(await restoreInto(backupDir, manifest));
    for (const img of images) assert.equal((await pull(restored, 'streamed', `v${images.indexOf(img)}`))[0], img.digest);
  });

  it('restore refuses a registry that has repositories, unless it names others with --repos', async () => {
    const reg = await registry();
    await pushImage(reg, 'one', 'one', { tag: 'v1' });
    await pushImage(reg, 'two', 'two', { tag: 'v1' });
    const backupDir = tempDir('rs-backup-');
    const { manifest } = await runBackup({ source: reg.running.registry.driver, sink: new DriverSink(new FilesystemDriver(backupDir)) });
    const target = await registry();
    await pushImage(target, 'one', 'other one', { tag: 'v1' });
    const driver = target.running.registry.driver;
    await assert.rejects(checkRestoreTarget(driver, undefined), /is not empty \(1 repositories, e\.g\. one\).*--repos/);
    await assert.rejects(checkRestoreTarget(driver, ['one']), /has one already/);
    await checkRestoreTarget(driver, ['two']);
    const sink = new DriverSink(driver);
    const { manifest: restored } = await runRestore({ manifest, open: openFrom(new FilesystemDriver(backupDir)), source: backupDir, sink, repositories: ['two'] });
    assert.deepEqual(await sink.check(restored), []);
    assert.equal((await pull(target, 'two', 'v1'))[0], manifest.repositories.two!.tags.v1);
  });

  it('backup --merge into a live registry leaves its clients\' unfinished uploads alone', async () => {
    const source = await registry();
    const pushed = await pushImage(source, 'merged', 'merged', { tag: 'v1' });
    const live = await registry();
    const post = await live.fetch('/v2/busy/blobs/uploads/', { method: 'POST' });
    assert.equal(post.status, 202);
    const location = post.headers.get('location')!;
    const patch = await live.fetch(location, { method: 'PATCH', body: 'first half', headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(patch.status, 202);
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write; // the command's JSON lines
    try {
      await backupCommand().exitOverride().parseAsync(['--data', source.dataDir, '--to', live.dataDir, '--merge', '--json'], { from: 'user' });
    } finally {
      process.stdout.write = write;
    }
    assert.equal((await pull(live, 'merged', 'v1'))[0], pushed.digest);
    const status = await live.fetch(patch.headers.get('location') ?? location, { method: 'GET' });
    assert.equal(status.status, 204, 'the upload session is still there');
  });
});

