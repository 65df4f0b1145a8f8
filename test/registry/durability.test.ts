import { after, afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { DurableFolders } from '../../src/registry/storage/filesystem/durable-folders.js';
import { FilesystemDriver } from '../../src/registry/storage/filesystem/driver.js';
import { BlobStore } from '../../src/registry/storage/blob-store.js';
import { UploadStore } from '../../src/registry/storage/filesystem/upload-store.js';
import { TempDirs } from '../helpers/tmp.js';
import { pushImage, sha256, startTestRegistry } from './harness.js';

/**
 * Records, in the order they complete, the renames and syncs the registry makes through
 * node:fs/promises (which the filesystem driver uses), with paths relative to the v2 root.
 */
class SyncSpy {
  events: string[] = [];
  private readonly saved = { open: fsp.open, rename: fsp.rename };

  constructor(private readonly root: string) {}

  private rel(p: unknown): string {
    return path.relative(this.root, String(p)).replace(/\.[0-9a-f]{8}[0-9a-f]+\.tmp$/, '.TMP');
  }

  install(): void {
    const { open, rename } = this.saved;
    const events = this.events;
    const rel = (p: unknown) => this.rel(p);
    fsp.open = (async (file: Parameters<typeof open>[0], ...rest: unknown[]) => {
      const handle = await (open as (...a: unknown[]) => ReturnType<typeof open>)(file, ...rest);
      const sync = handle.sync.bind(handle);
      const datasync = handle.datasync.bind(handle);
      handle.sync = async () => {
        await sync();
        events.push(`fsync ${rel(file)}`);
      };
      handle.datasync = async () => {
        await datasync();
        events.push(`fdatasync ${rel(file)}`);
      };
      return handle;
    }) as typeof open;
    fsp.rename = (async (from: Parameters<typeof rename>[0], to: Parameters<typeof rename>[1]) => {
      await rename(from, to);
      events.push(`rename ${rel(from)} -> ${rel(to)}`);
    }) as typeof rename;
  }

  restore(): void {
    fsp.open = this.saved.open;
    fsp.rename = this.saved.rename;
  }

  /** The events after the first one matching `re`. */
  after(re: RegExp): string[] {
    const i = this.events.findIndex((e) => re.test(e));
    assert.ok(i >= 0, `no event matches ${re}:\n${this.events.join('\n')}`);
    return this.events.slice(i + 1);
  }
}

/**
 * After the data got its name in `blobs/`: the blob folder and every folder created for it are
 * synced in their parents; the repository's link has its content synced before its rename and
 * its folder after.
 */
function assertNamedDurably(spy: SyncSpy, hex: string): void {
  const e = spy.events;
  const blobDir = `blobs/sha256/${hex.slice(0, 2)}/${hex}`;
  const afterRename = spy.after(/^rename .* -> blobs\//);
  for (const d of [blobDir, `blobs/sha256/${hex.slice(0, 2)}`, 'blobs/sha256', 'blobs']) assert.ok(afterRename.includes(`fsync ${d}`), `fsync ${d}:\n${e.join('\n')}`);
  const link = `repositories/team/app/_layers/sha256/${hex}/link`;
  const linkRename = e.indexOf(`rename ${link}.TMP -> ${link}`);
  assert.ok(linkRename > 0 && e.indexOf(`fdatasync ${link}.TMP`) < linkRename, e.join('\n'));
  assert.ok(spy.after(new RegExp(`^rename ${link}`)).includes(`fsync repositories/team/app/_layers/sha256/${hex}`), e.join('\n'));
}

describe('a 201 means the bytes and their names survive a power cut', () => {
  const tmp = new TempDirs();
  let spy: SyncSpy | undefined;
  afterEach(() => spy?.restore());
  after(() => tmp.cleanup());

  let v2: string;
  let uploads: UploadStore;
  beforeEach(async () => {
    const dir = await tmp.make('rs-durable-');
    v2 = path.join(dir, 'docker/registry/v2');
    const driver = new FilesystemDriver(dir);
    uploads = new UploadStore(driver, new BlobStore(driver));
  });

  it('a blob commit syncs the data, the blob folder and the new folders above it, then the repository link', async () => {
    const data = Buffer.from('layer bytes that must not be lost');
    const digest = sha256(data);
    const hex = digest.slice('sha256:'.length);
    const id = await uploads.create('team/app');
    spy = new SyncSpy(v2);
    spy.install();
    await uploads.append('team/app', id, Readable.from([data]), undefined, true);
    await uploads.commit('team/app', id, digest);
    const e = spy.events;
    const blobDir = `blobs/sha256/${hex.slice(0, 2)}/${hex}`;
    // the data: fdatasynced by the last append, before it is given its name
    assert.ok(e.indexOf(`fdatasync repositories/team/app/_uploads/${id}/data`) < e.indexOf(`rename repositories/team/app/_uploads/${id}/data -> ${blobDir}/data`), e.join('\n'));
    assertNamedDurably(spy, hex);
  });

  it('a blob pushed in one body (POST, then PUT with it) goes straight to its folder: data synced, then named, then its folders', async () => {
    const data = Buffer.from('a monolithic push');
    const digest = sha256(data);
    const hex = digest.slice('sha256:'.length);
    const id = await uploads.create('team/app');
    spy = new SyncSpy(v2);
    spy.install();
    assert.equal(await uploads.appendAndCommit('team/app', id, Readable.from([data]), undefined, digest, data.length), data.length);
    const e = spy.events;
    const blobDir = `blobs/sha256/${hex.slice(0, 2)}/${hex}`;
    const rename = e.indexOf(`rename ${blobDir}/data.TMP -> ${blobDir}/data`);
    assert.ok(rename >= 0 && e.indexOf(`fdatasync ${blobDir}/data.TMP`) >= 0 && e.indexOf(`fdatasync ${blobDir}/data.TMP`) < rename, e.join('\n'));
    assertNamedDurably(spy, hex);
    assert.ok(e.indexOf(`rename repositories/team/app/_layers/sha256/${hex}/link.TMP -> repositories/team/app/_layers/sha256/${hex}/link`) > rename, e.join('\n'));
    assert.deepEqual(e.filter((x) => x.includes('_uploads')), [], 'no session folder for a push in one body');
  });

  it("a session's folder comes with its first bytes and syncs nothing of its own, only new folders a repository needs", async () => {
    const chunk = () => Readable.from([Buffer.from('chunk')]);
    await uploads.append('team/app', await uploads.create('team/app'), chunk()); // the folders above the repository exist now
    const id = await uploads.create('team/app');
    assert.equal(await fsp.stat(path.join(v2, 'repositories/team/app/_uploads', id)).catch(() => null), null, 'no folder before the first bytes');
    spy = new SyncSpy(v2);
    spy.install();
    await uploads.append('team/app', id, chunk());
    assert.ok(spy.events.some((e) => e.startsWith(`rename repositories/team/app/_uploads/${id}/startedat`)), spy.events.join('\n'));
    assert.deepEqual(spy.events.filter((e) => /sync/.test(e)), [], 'a session lost to a power cut is simply started again');
    // A new repository's folder is made durable (links placed in it later rely on it); its
    // `_uploads`, scratch like the sessions in it, is not.
    spy.events.length = 0;
    await uploads.append('team/new', await uploads.create('team/new'), chunk());
    assert.deepEqual(spy.events.filter((e) => /sync/.test(e)), ['fsync repositories/team']);
  });

  it('a name placed beneath a folder another request created waits until that folder is durable', async () => {
    const root = path.dirname(v2);
    const folders = new DurableFolders(root);
    const first = await folders.make(`${v2}/repositories/new/_layers`); // creates the chain, not synced yet
    const second = await folders.make(`${v2}/repositories/new/_layers`); // finds it there
    assert.deepEqual(second.created, []);
    let placed = false;
    const settling = folders.settle(second, true).then(() => (placed = true));
    // Long enough for its own fsync; it must still be waiting for the first request's.
    await Promise.race([settling, new Promise((r) => setTimeout(r, 200))]);
    assert.equal(placed, false, 'answered before the folders above it were durable');
    spy = new SyncSpy(v2);
    spy.install();
    await folders.settle(first, true);
    await settling;
    assert.ok(spy.events.includes('fsync repositories') && spy.events.includes('fsync repositories/new'), spy.events.join('\n'));
  });

  it('a manifest PUT answers 201 after its bytes, revision and tag links are synced', async () => {
    const reg = await startTestRegistry();
    try {
      const root = path.join(reg.dataDir, 'docker/registry/v2');
      await pushImage(reg, 'team/web', 'warm-up'); // the folders above the repository exist now
      spy = new SyncSpy(root);
      spy.install();
      const { digest } = await pushImage(reg, 'team/web', '1.0', { layers: [] });
      const hex = digest.slice('sha256:'.length);
      const e = spy.events;
      const synced = (file: string) => {
        const renamed = e.indexOf(`rename ${file}.TMP -> ${file}`);
        assert.ok(renamed > 0 && e.indexOf(`fdatasync ${file}.TMP`) < renamed, `${file}:\n${e.join('\n')}`);
        assert.ok(spy!.after(new RegExp(`^rename ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.TMP`)).includes(`fsync ${path.dirname(file)}`), `${file}:\n${e.join('\n')}`);
      };
      synced(`blobs/sha256/${hex.slice(0, 2)}/${hex}/data`);
      synced(`repositories/team/web/_manifests/revisions/sha256/${hex}/link`);
      synced(`repositories/team/web/_manifests/tags/1.0/index/sha256/${hex}/link`);
      synced(`repositories/team/web/_manifests/tags/1.0/current/link`);
    } finally {
      spy?.restore();
      await reg.close();
    }
  });
});
