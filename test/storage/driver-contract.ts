// What every storage driver promises the registry, as distribution's storage/driver/testsuites
// does for its drivers: the primitives (put/get/stat/list/move/delete, readers and senders), the
// upload sessions built on them, and the durability promises that can be seen from outside (a
// resolved write is the store's, not the driver's memory; a replaced file is old or new, never a
// mix; unverified bytes never become a blob). Each driver's test file runs it against a fresh store.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import type { StorageDriver } from '../../src/registry/storage/driver.js';
import { BlobStore } from '../../src/registry/storage/blob-store.js';
import { uploadsDir } from '../../src/registry/storage/paths.js';

export interface DriverUnderTest {
  driver: StorageDriver;
  /** Another driver on the same store: the registry after a restart, or a second replica. */
  reopen(): Promise<StorageDriver>;
  /** Closes what was opened and removes the store. */
  cleanup(): Promise<void>;
}

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const MiB = 1024 * 1024;

/** Deterministic bytes that do not repeat within a part. */
function bytes(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i + 4 <= n; i += 4) {
    x = (x * 1103515245 + 12345) >>> 0;
    out.writeUInt32LE(x, i);
  }
  out.fill(seed & 0xff, n - (n % 4));
  return out;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A request body that sends `first`, then fails as a client that went away. */
function cutOffBody(first: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (sent) this.destroy(new Error('client went away'));
      else this.push(first);
      sent = true;
    },
  });
}

export function driverContract(title: string, open: () => Promise<DriverUnderTest>, opts: { skip?: string | false } = {}): void {
  describe(`storage driver contract: ${title}`, { skip: opts.skip ?? false }, () => {
    let store: DriverUnderTest;
    let driver: StorageDriver;
    before(async () => {
      store = await open();
      driver = store.driver;
    });
    after(async () => store?.cleanup());

    describe('files', () => {
      it('puts, gets and replaces small files; a missing one is null', async () => {
        assert.equal(await driver.getContent('contract/none'), null);
        await driver.putContent('contract/put/a', 'first');
        assert.equal((await driver.getContent('contract/put/a'))?.toString(), 'first');
        await driver.putContent('contract/put/a', Buffer.from('second, longer'));
        assert.equal((await driver.getContent('contract/put/a'))?.toString(), 'second, longer');
        await driver.putContent('contract/put/empty', Buffer.alloc(0));
        assert.deepEqual(await driver.getContent('contract/put/empty'), Buffer.alloc(0));
      });

      it("stats a file's size and time; a missing one is null", async () => {
        const before = Date.now();
        await driver.putContent('contract/stat/f', 'twelve bytes');
        const info = await driver.stat('contract/stat/f');
        assert.equal(info?.size, 12);
        // object stores keep whole seconds
        assert.ok(info!.modTime.getTime() >= before - 2000 && info!.modTime.getTime() <= Date.now() + 2000, String(info?.modTime));
        assert.equal(await driver.stat('contract/stat/missing'), null);
      });

      it('reads a whole file or an inclusive byte range; a missing file fails with ENOENT', async () => {
        const data = bytes(64 * 1024 + 3, 1);
        await driver.putContent('contract/read/f', data);
        assert.deepEqual(await readAll(driver.reader('contract/read/f')), data);
        assert.deepEqual(await readAll(driver.reader('contract/read/f', { start: 10, end: 20 })), data.subarray(10, 21));
        await assert.rejects(readAll(driver.reader('contract/read/missing')), { code: 'ENOENT' });
      });

      it('opens a file for sending, whole or a range; a missing one is null', async () => {
        const data = bytes(100_000, 2);
        await driver.putContent('contract/send/f', data);
        assert.equal(await driver.openForSend('contract/send/missing'), null);
        const sending = await driver.openForSend('contract/send/f');
        assert.equal(sending?.size, data.length);
        const collect = async (range?: { start: number; end: number }) => {
          const out = new PassThrough();
          const received = readAll(out);
          await sending!.send(out as Writable, range);
          return received;
        };
        try {
          assert.deepEqual(await collect(), data);
          assert.deepEqual(await collect({ start: 99_990, end: 99_999 }), data.subarray(99_990));
        } finally {
          await sending!.close();
        }
      });

      it("lists a folder's direct children, files and folders; a missing folder is empty", async () => {
        await driver.putContent('contract/list/a', 'a');
        await driver.putContent('contract/list/sub/b', 'b');
        await driver.putContent('contract/list/sub/deeper/c', 'c');
        assert.deepEqual((await driver.list('contract/list')).sort(), ['a', 'sub']);
        assert.deepEqual((await driver.list('contract/list/sub')).sort(), ['b', 'deeper']);
        assert.deepEqual(await driver.list('contract/list/missing'), []);
      });

      it('moves a file (creating parents, replacing the target) and reports the time it had; moves a folder', async () => {
        await driver.putContent('contract/move/src', 'moved bytes');
        const was = await driver.stat('contract/move/src');
        await driver.putContent('contract/move/elsewhere/dst', 'old target');
        const moved = await driver.move('contract/move/src', 'contract/move/elsewhere/dst');
        assert.equal(moved?.size, 11);
        assert.equal(moved?.modTime.getTime(), was!.modTime.getTime(), 'the time of what was moved, not of the move');
        assert.equal(await driver.getContent('contract/move/src'), null);
        assert.equal((await driver.getContent('contract/move/elsewhere/dst'))?.toString(), 'moved bytes');

        await driver.putContent('contract/move/tree/x', 'x');
        await driver.putContent('contract/move/tree/y/z', 'z');
        assert.equal(await driver.move('contract/move/tree', 'contract/move/moved-tree'), null);
        assert.deepEqual(await driver.list('contract/move/tree'), []);
        assert.equal((await driver.getContent('contract/move/moved-tree/y/z'))?.toString(), 'z');
        await assert.rejects(driver.move('contract/move/nothing-here', 'contract/move/x'));
      });

      it('deletes a file or a whole folder; deleting what is missing is no error', async () => {
        await driver.putContent('contract/delete/one', '1');
        await driver.putContent('contract/delete/tree/two', '2');
        await driver.putContent('contract/delete/tree/sub/three', '3');
        await driver.delete('contract/delete/one');
        assert.equal(await driver.getContent('contract/delete/one'), null);
        await driver.delete('contract/delete/tree');
        assert.deepEqual(await driver.list('contract/delete/tree'), []);
        assert.equal(await driver.getContent('contract/delete/tree/sub/three'), null);
        await driver.delete('contract/delete/never-there');
      });

      it('refuses a path that would leave the store', async () => {
        await assert.rejects(driver.putContent('../../../../outside', 'x'));
        await assert.rejects(driver.getContent('contract/../../../../../outside'));
      });
    });

    describe('durability promises', () => {
      it('a resolved write belongs to the store: another driver on it reads it, and a synced file is unchanged', async () => {
        await driver.putContent('contract/durable/f', 'written');
        await driver.sync('contract/durable/f');
        const other = await store.reopen();
        try {
          assert.equal((await other.getContent('contract/durable/f'))?.toString(), 'written');
        } finally {
          other.close?.();
        }
      });

      it('a file being replaced reads as the old or the new content, never a mix', async () => {
        const old = Buffer.alloc(256 * 1024, 'o');
        const next = Buffer.alloc(256 * 1024, 'n');
        await driver.putContent('contract/atomic/f', old);
        const seen = new Set<string>();
        let writing = true;
        const writer = (async () => {
          try {
            for (let i = 0; i < 6; i++) await driver.putContent('contract/atomic/f', i % 2 === 0 ? next : old);
          } finally {
            writing = false;
          }
        })();
        for (let reads = 0; reads < 200 && (writing || reads < 3); reads++) {
          const got = await driver.getContent('contract/atomic/f');
          assert.ok(got, 'never missing while it is replaced');
          assert.ok(got.equals(old) || got.equals(next), `a read of ${got.length} bytes mixed old and new`);
          seen.add(got[0] === 0x6f ? 'old' : 'new');
        }
        await writer;
        assert.ok(seen.size >= 1);
      });
    });

    describe('upload sessions', () => {
      let blobs: BlobStore;
      before(() => {
        blobs = new BlobStore(driver);
      });
      const sessions = () => driver.uploadSessions(blobs);

      it('start, append, commit: the blob appears only at the commit, linked, and the session is gone', async () => {
        const uploads = sessions();
        const data = bytes(300_000, 3);
        const id = await uploads.create('contract/chunks');
        assert.equal(await uploads.size('contract/chunks', id), 0);
        assert.deepEqual(await uploads.append('contract/chunks', id, Readable.from([data.subarray(0, 100_000)])), { before: 0, after: 100_000 });
        assert.deepEqual(await uploads.append('contract/chunks', id, Readable.from([data.subarray(100_000)]), 100_000, true), { before: 100_000, after: 300_000 });
        assert.equal(await uploads.size('contract/chunks', id), 300_000);
        assert.equal(await blobs.size(sha256(data)), null, 'not a blob before the commit');
        assert.equal(await uploads.commit('contract/chunks', id, sha256(data)), 300_000);
        assert.deepEqual(await blobs.read(sha256(data)), data);
        assert.equal(await blobs.sizeInRepo('contract/chunks', sha256(data)), 300_000);
        assert.equal(await uploads.size('contract/chunks', id), null);
        assert.ok(!(await driver.list(uploadsDir('contract/chunks'))).includes(id), 'no session files left');
      });

      it('refuses a chunk that does not start where the upload ends (416), and keeps the bytes it has', async () => {
        const uploads = sessions();
        const id = await uploads.create('contract/range');
        await uploads.append('contract/range', id, Readable.from([Buffer.from('12345')]));
        await assert.rejects(uploads.append('contract/range', id, Readable.from([Buffer.from('x')]), 3), { code: 'RANGE_INVALID', status: 416 });
        assert.equal(await uploads.size('contract/range', id), 5);
        assert.equal(await uploads.cancel('contract/range', id), true);
      });

      it('resumes on another driver (a restart or another replica), re-hashing what it did not receive', async () => {
        const data = bytes(7 * MiB + 1000, 4);
        const first = sessions();
        const id = await first.create('contract/resume');
        // a tail below S3's 5 MiB part minimum, then a whole part with it, then a tail again
        await first.append('contract/resume', id, Readable.from([data.subarray(0, 3 * MiB)]));
        await first.append('contract/resume', id, Readable.from([data.subarray(3 * MiB, 7 * MiB)]), 3 * MiB);
        const other = await store.reopen();
        try {
          const resumed = other.uploadSessions(new BlobStore(other));
          assert.equal(await resumed.size('contract/resume', id), 7 * MiB);
          await resumed.append('contract/resume', id, Readable.from([data.subarray(7 * MiB)]), 7 * MiB, true);
          assert.equal(await resumed.commit('contract/resume', id, sha256(data)), data.length);
        } finally {
          other.close?.();
        }
        assert.deepEqual(await blobs.read(sha256(data)), data);
      });

      it('a digest that does not match makes no blob and ends the session', async () => {
        const uploads = sessions();
        const id = await uploads.create('contract/bad-digest');
        await uploads.append('contract/bad-digest', id, Readable.from([Buffer.from('not what was announced')]), 0, true);
        const announced = sha256('the real content');
        await assert.rejects(uploads.commit('contract/bad-digest', id, announced), { code: 'DIGEST_INVALID' });
        assert.equal(await blobs.size(announced), null);
        assert.equal(await blobs.sizeInRepo('contract/bad-digest', announced), null);
        assert.equal(await uploads.size('contract/bad-digest', id), null);
      });

      it('one body that completes a session is checked against its digest and its Content-Length', async () => {
        const uploads = sessions();
        const data = Buffer.from('pushed in one request');
        const id = await uploads.create('contract/whole');
        assert.equal(await uploads.appendAndCommit('contract/whole', id, Readable.from([data]), undefined, sha256(data), data.length), data.length);
        assert.equal((await blobs.read(sha256(data)))?.toString(), 'pushed in one request');
        assert.equal(await uploads.size('contract/whole', id), null);

        const short = await uploads.create('contract/whole');
        await assert.rejects(uploads.appendAndCommit('contract/whole', short, Readable.from([Buffer.from('short')]), undefined, sha256('short'), 6), { code: 'SIZE_INVALID' });
        assert.equal(await blobs.size(sha256('short')), null);
        const wrong = await uploads.create('contract/whole');
        await assert.rejects(uploads.appendAndCommit('contract/whole', wrong, Readable.from([Buffer.from('other')]), undefined, sha256('announced')), { code: 'DIGEST_INVALID' });
        assert.equal(await blobs.size(sha256('announced')), null);
      });

      it('an interrupted upload never becomes a visible blob, in one body or after chunks', async () => {
        const uploads = sessions();
        const digest = sha256('first part, second part');
        const oneBody = await uploads.create('contract/cut');
        await assert.rejects(uploads.appendAndCommit('contract/cut', oneBody, cutOffBody(Buffer.from('first part, ')), undefined, digest), /client went away/);
        assert.equal(await blobs.size(digest), null);

        const chunked = await uploads.create('contract/cut');
        await uploads.append('contract/cut', chunked, Readable.from([Buffer.from('first ')]));
        await assert.rejects(uploads.appendAndCommit('contract/cut', chunked, cutOffBody(Buffer.from('part, ')), 6, digest), /client went away/);
        assert.equal(await blobs.size(digest), null);
        assert.equal(await blobs.sizeInRepo('contract/cut', digest), null);
      });

      it('a session committed without bytes is the empty blob', async () => {
        const uploads = sessions();
        const id = await uploads.create('contract/empty');
        assert.equal(await uploads.commit('contract/empty', id, sha256('')), 0);
        assert.equal(await blobs.size(sha256('')), 0);
        assert.equal(await blobs.sizeInRepo('contract/empty', sha256('')), 0);
      });

      it('a blob the store has already is verified, linked, and not replaced', async () => {
        const uploads = sessions();
        const data = Buffer.from('a shared layer');
        await uploads.appendAndCommit('contract/first', await uploads.create('contract/first'), Readable.from([data]), undefined, sha256(data));
        const id = await uploads.create('contract/second');
        await uploads.append('contract/second', id, Readable.from([data]));
        assert.equal(await uploads.commit('contract/second', id, sha256(data)), data.length);
        assert.equal(await blobs.sizeInRepo('contract/second', sha256(data)), data.length);
        assert.deepEqual(await blobs.read(sha256(data)), data);
      });

      it('cancels a session once; an unknown session has no size and takes no bytes', async () => {
        const uploads = sessions();
        const id = await uploads.create('contract/cancel');
        await uploads.append('contract/cancel', id, Readable.from([Buffer.from('bytes')]));
        assert.equal(await uploads.cancel('contract/cancel', id), true);
        assert.equal(await uploads.size('contract/cancel', id), null);
        assert.equal(await uploads.cancel('contract/cancel', id), false);
        const unknown = '6f1c2a34-1111-4222-8333-944455566677';
        assert.equal(await uploads.size('contract/cancel', unknown), null);
        assert.equal(await uploads.size('contract/cancel', 'not-an-upload-id'), null);
        await assert.rejects(uploads.append('contract/cancel', unknown, Readable.from([Buffer.from('x')])), { code: 'BLOB_UPLOAD_UNKNOWN' });
        await assert.rejects(uploads.commit('contract/cancel', unknown, sha256('x')), { code: 'BLOB_UPLOAD_UNKNOWN' });
      });

      it('purges sessions older than the age given, and only those', async () => {
        const uploads = sessions();
        const idle = await uploads.create('contract/purge');
        const written = await uploads.create('contract/purge');
        await uploads.append('contract/purge', written, Readable.from([Buffer.from('abandoned')]));
        assert.equal(await uploads.purge(3600_000, ['contract/purge']), 0, 'both are young');
        assert.equal(await uploads.purge(-1, ['contract/purge']), 2);
        assert.equal(await uploads.size('contract/purge', idle), null);
        assert.equal(await uploads.size('contract/purge', written), null);
        assert.deepEqual(await driver.list(uploadsDir('contract/purge')), []);
      });
    });
  });
}
