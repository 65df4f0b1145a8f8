import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FilesystemDriver } from '../../src/registry/storage/filesystem/driver.js';
import { BlobStore } from '../../src/registry/storage/blob-store.js';
import { UploadStore } from '../../src/registry/storage/filesystem/upload-store.js';
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

  it('a new session lives in memory until its first bytes: 0 bytes, no folder, forgotten by a restart', async () => {
    const { uploads, restarted, v2, blobs } = await stores();
    const id = await uploads.create('empty/repo');
    // only the repository's `_uploads` folder, touched so that gc sees a push under way
    assert.deepEqual(readdirSync(path.join(v2, 'repositories/empty/repo')), ['_uploads']);
    assert.deepEqual(readdirSync(path.join(v2, 'repositories/empty/repo/_uploads')), []);
    assert.equal(await uploads.size('empty/repo', id), 0);
    assert.equal(await restarted().size('empty/repo', id), null);
    // committed without a body it is the empty blob, by way of an ordinary session
    const empty = sha256('');
    assert.equal(await uploads.commit('empty/repo', id, empty), 0);
    assert.equal(await blobs.size(empty), 0);
    assert.deepEqual(readdirSync(path.join(v2, 'repositories/empty/repo/_uploads')), []);
    assert.equal(await uploads.size('empty/repo', id), null);
  });

  it("starting sessions in memory touches the repository's _uploads folder, at most every 10 s", async () => {
    const { uploads, v2, restarted } = await stores();
    await uploads.create('marked/repo');
    const folder = path.join(v2, 'repositories/marked/repo/_uploads');
    const old = new Date(Date.now() - 3600_000);
    utimesSync(folder, old, old);
    await uploads.create('marked/repo');
    assert.ok(statSync(folder).mtimeMs < Date.now() - 3000_000, 'touched again within 10 s');
    await restarted().create('marked/repo'); // nothing touched yet since the start

    assert.ok(statSync(folder).mtimeMs > Date.now() - 60_000, 'a new session marks the repository busy');
  });

  it('its first chunk gives it the folder of the registry:2 layout, which survives a restart', async () => {
    const { uploads, restarted, v2 } = await stores();
    const id = await uploads.create('chunked/repo');
    await uploads.append('chunked/repo', id, Readable.from([Buffer.from('12345')]));
    assert.deepEqual(readdirSync(path.join(v2, 'repositories/chunked/repo/_uploads', id)).sort(), ['data', 'startedat']);
    assert.equal(await restarted().size('chunked/repo', id), 5);
  });

  it('one body that completes a new session becomes the blob with no session folder and no temp file left', async () => {
    const { uploads, blobs, v2 } = await stores();
    const data = Buffer.from('pushed in one request');
    const id = await uploads.create('whole/repo');
    assert.equal(await uploads.appendAndCommit('whole/repo', id, Readable.from([data]), undefined, sha256(data), data.length), data.length);
    assert.equal((await blobs.read(sha256(data)))?.toString(), 'pushed in one request');
    assert.equal(await blobs.sizeInRepo('whole/repo', sha256(data)), data.length);
    const hex = sha256(data).slice(7);
    assert.deepEqual(readdirSync(path.join(v2, 'blobs/sha256', hex.slice(0, 2), hex)), ['data']);
    assert.deepEqual(readdirSync(path.join(v2, 'repositories/whole/repo/_uploads')), []);
    assert.equal(await uploads.size('whole/repo', id), null, 'the session is over');
  });

  for (const [what, body, declared, code] of [
    ['a digest that does not match', [Buffer.from('not what was announced')], undefined, 'DIGEST_INVALID'],
    ['fewer bytes than Content-Length', [Buffer.from('short')], 6, 'SIZE_INVALID'],
  ] as const) {
    it(`one body with ${what} leaves nothing behind: no blob, no folder, no temp file, no session`, async () => {
      const { uploads, blobs, v2 } = await stores();
      const announced = sha256('the real content');
      const id = await uploads.create('bad/repo');
      await assert.rejects(uploads.appendAndCommit('bad/repo', id, Readable.from(body), undefined, announced, declared), { code });
      assert.equal(await blobs.size(announced), null);
      const hex = announced.slice(7);
      assert.equal(existsSync(path.join(v2, 'blobs/sha256', hex.slice(0, 2), hex)), false);
      assert.deepEqual(readdirSync(path.join(v2, 'repositories/bad/repo')), ['_uploads']);
      assert.deepEqual(readdirSync(path.join(v2, 'repositories/bad/repo/_uploads')), []);
      assert.equal(await uploads.size('bad/repo', id), null);
    });
  }

  it('one body cut off midway leaves no blob and no temp file', async () => {
    const { uploads, blobs, v2 } = await stores();
    const digest = sha256('first part, second part');
    let sent = false;
    const body = new Readable({
      read() {
        if (sent) this.destroy(new Error('client went away'));
        else this.push(Buffer.from('first part, '));
        sent = true;
      },
    });
    const id = await uploads.create('cut/repo');
    await assert.rejects(uploads.appendAndCommit('cut/repo', id, body, undefined, digest), /client went away/);
    assert.equal(await blobs.size(digest), null);
    const hex = digest.slice(7);
    assert.equal(existsSync(path.join(v2, 'blobs/sha256', hex.slice(0, 2), hex)), false);
  });

  it('one body for a blob the store has is verified, not written again, and only linked', async () => {
    const { uploads, blobs, v2 } = await stores();
    const data = Buffer.from('shared layer');
    await uploads.appendAndCommit('first/repo', await uploads.create('first/repo'), Readable.from([data]), undefined, sha256(data));
    const hex = sha256(data).slice(7);
    const file = path.join(v2, 'blobs/sha256', hex.slice(0, 2), hex, 'data');
    const inode = statSync(file).ino;
    await assert.rejects(
      uploads.appendAndCommit('second/repo', await uploads.create('second/repo'), Readable.from([Buffer.from('other bytes')]), undefined, sha256(data)),
      { code: 'DIGEST_INVALID' },
    );
    assert.equal(await blobs.sizeInRepo('second/repo', sha256(data)), null, 'a wrong body links nothing');
    await uploads.appendAndCommit('second/repo', await uploads.create('second/repo'), Readable.from([data]), undefined, sha256(data));
    assert.equal(await blobs.sizeInRepo('second/repo', sha256(data)), data.length);
    assert.equal(statSync(file).ino, inode, 'the bytes were not replaced');
  });

  it('beyond the in-memory limit a new session starts on disk; purge forgets old ones kept in memory', async () => {
    const { driver, blobs, v2 } = await stores();
    const uploads = new UploadStore(driver, blobs, 1);
    const inMemory = await uploads.create('limit/repo');
    const onDisk = await uploads.create('limit/repo');
    assert.deepEqual(readdirSync(path.join(v2, 'repositories/limit/repo/_uploads')), [onDisk]);
    assert.equal(await uploads.purge(60_000, ['limit/repo']), 0, 'both are young');
    assert.equal(await uploads.purge(-1, ['limit/repo']), 2);
    assert.equal(await uploads.size('limit/repo', inMemory), null);
    assert.equal(await uploads.size('limit/repo', onDisk), null);
  });

  it('purge skips a session whose request is in flight (a stalled client) instead of waiting for it', async () => {
    const { uploads, v2 } = await stores();
    const stalled = await uploads.create('stall/repo');
    await uploads.append('stall/repo', stalled, Readable.from([Buffer.from('first')]));
    const done = await uploads.create('other/repo');
    await uploads.append('other/repo', done, Readable.from([Buffer.from('abandoned')]));
    // a body that never ends: the append holds the session's lock
    const body = new Readable({ read() {} });
    body.push(Buffer.from('more'));
    const inFlight = uploads.append('stall/repo', stalled, body);
    const dataFile = path.join(v2, 'repositories/stall/repo/_uploads', stalled, 'data');
    for (const deadline = Date.now() + 5_000; statSync(dataFile).size < 9; await new Promise((r) => setTimeout(r, 10))) {
      assert.ok(Date.now() < deadline, 'the in-flight append wrote its first bytes');
    }
    const purged = await Promise.race([uploads.purge(-1, ['other/repo', 'stall/repo']), new Promise<string>((r) => setTimeout(() => r('blocked'), 5_000))]);
    assert.equal(purged, 1, 'the idle session went, the busy one was skipped');
    assert.equal(existsSync(path.join(v2, 'repositories/other/repo/_uploads', done)), false);
    body.push(null);
    await inFlight;
    assert.equal(await uploads.size('stall/repo', stalled), 9);
    assert.equal(await uploads.purge(-1, ['stall/repo']), 1, 'once idle, the next run takes it');
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
