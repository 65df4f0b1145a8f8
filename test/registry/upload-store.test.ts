import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FilesystemDriver } from '../../src/registry/storage/filesystem.js';
import { BlobStore } from '../../src/registry/storage/blob-store.js';
import { UploadStore } from '../../src/registry/storage/upload-store.js';
import { TempDirs } from '../helpers/tmp.js';
import { sha256 } from './harness.js';

/** Counts the driver's explicit fdatasync calls (the commit's own, not an appender's). */
class CountingDriver extends FilesystemDriver {
  syncs = 0;
  override async sync(p: string): Promise<void> {
    this.syncs++;
    return super.sync(p);
  }
}

describe('filesystem upload sessions', () => {
  const tmp = new TempDirs();
  after(() => tmp.cleanup());

  async function stores() {
    const dir = await tmp.make('rs-uploads-');
    const driver = new CountingDriver(dir);
    const blobs = new BlobStore(driver);
    const v2 = path.join(dir, 'docker/registry/v2');
    // A second store on the same directory stands for the registry after a restart: no running hashes.
    return { driver, blobs, v2, uploads: new UploadStore(driver, blobs), restarted: () => new UploadStore(driver, blobs) };
  }

  it('a new session is only its startedat; it reports 0 bytes and commits an empty blob', async () => {
    const { uploads, restarted, v2, blobs } = await stores();
    const id = await uploads.create('empty/repo');
    assert.deepEqual(readdirSync(path.join(v2, 'repositories/empty/repo/_uploads', id)), ['startedat']);
    assert.equal(await uploads.size('empty/repo', id), 0);
    // After a restart the session has neither a running hash nor a data file.
    const empty = sha256('');
    assert.equal(await restarted().commit('empty/repo', id, empty), 0);
    assert.equal(await blobs.size(empty), 0);
    assert.equal(existsSync(path.join(v2, 'repositories/empty/repo/_uploads', id)), false);
  });

  it('an unknown or removed session has no size', async () => {
    const { uploads } = await stores();
    assert.equal(await uploads.size('some/repo', '6f1c2a34-1111-4222-8333-944455566677'), null);
    const id = await uploads.create('some/repo');
    assert.equal(await uploads.cancel('some/repo', id), true);
    assert.equal(await uploads.size('some/repo', id), null);
    assert.equal(await uploads.cancel('some/repo', id), false);
  });

  it('the append before a commit makes the bytes durable itself, so the commit does not sync again', async () => {
    const { uploads, driver, blobs } = await stores();
    const data = Buffer.from('last chunk');
    const id = await uploads.create('sync/repo');
    await uploads.append('sync/repo', id, Readable.from([data]), undefined, true);
    await uploads.commit('sync/repo', id, sha256(data));
    assert.equal(driver.syncs, 0);
    assert.equal((await blobs.read(sha256(data)))?.toString(), 'last chunk');

    const other = Buffer.from('a chunk, then the commit');
    const id2 = await uploads.create('sync/repo');
    await uploads.append('sync/repo', id2, Readable.from([other]));
    await uploads.commit('sync/repo', id2, sha256(other));
    assert.equal(driver.syncs, 1, 'a commit after an ordinary chunk syncs the data first');
  });

  it('a session resumed without its running hash is re-hashed from the data file', async () => {
    const { uploads, restarted, blobs } = await stores();
    const id = await uploads.create('resume/repo');
    await uploads.append('resume/repo', id, Readable.from([Buffer.from('first half, ')]));
    const after = restarted();
    await after.append('resume/repo', id, Readable.from([Buffer.from('second half')]), 12, true);
    const digest = sha256('first half, second half');
    assert.equal(await after.commit('resume/repo', id, digest), 23);
    assert.equal((await blobs.read(digest))?.toString(), 'first half, second half');
  });

  it('cleaning up a session also removes files another registry left in it', async () => {
    const { uploads, v2 } = await stores();
    const id = await uploads.create('foreign/repo');
    const folder = path.join(v2, 'repositories/foreign/repo/_uploads', id);
    mkdirSync(path.join(folder, 'hashstates/sha256'), { recursive: true });
    writeFileSync(path.join(folder, 'hashstates/sha256/0'), 'distribution hash state');
    const data = Buffer.from('blob');
    await uploads.append('foreign/repo', id, Readable.from([data]), 0, true);
    await uploads.commit('foreign/repo', id, sha256(data));
    assert.equal(existsSync(folder), false);
    assert.equal(readFileSync(path.join(v2, 'blobs/sha256', sha256(data).slice(7, 9), sha256(data).slice(7), 'data'), 'utf8'), 'blob');
  });
});
