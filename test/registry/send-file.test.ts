import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SEND_CHUNK, sendFile } from '../../src/registry/storage/filesystem/send-file.js';
import { TempDirs } from '../helpers/tmp.js';

/** Collects what is written, slowly (each write completes on a later turn), like a socket under load. */
class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    // Copied: the sender reuses its buffer once the write has completed.
    this.chunks.push(Buffer.from(chunk));
    setImmediate(done);
  }
  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

describe('sendFile', () => {
  const tmp = new TempDirs();
  after(() => tmp.cleanup());
  const data = randomBytes(3 * SEND_CHUNK + 12345);

  async function send(start: number, end: number, slowReadMs?: number): Promise<Buffer> {
    const file = join(await tmp.make(), 'blob');
    await writeFile(file, data);
    const handle = await open(file, 'r');
    try {
      const out = new Collector();
      await sendFile(handle, out, start, end, slowReadMs === undefined ? {} : { slowReadMs });
      assert.ok(out.writableFinished, 'the writable was ended');
      return out.data;
    } finally {
      await handle.close();
    }
  }

  it('sends the whole file and unaligned ranges byte for byte, from the cache and through the thread pool', async () => {
    for (const slowReadMs of [undefined, 0]) {
      // slowReadMs 0: every read counts as slow, so all reads after the first go through the thread pool.
      assert.ok((await send(0, data.length, slowReadMs)).equals(data), `whole file (slowReadMs ${slowReadMs})`);
      const [start, end] = [SEND_CHUNK - 7, 2 * SEND_CHUNK + 9];
      assert.ok((await send(start, end, slowReadMs)).equals(data.subarray(start, end)), `range (slowReadMs ${slowReadMs})`);
      assert.ok((await send(5, 6, slowReadMs)).equals(data.subarray(5, 6)), 'one byte');
    }
  });

  it('consecutive downloads reuse buffers without mixing their bytes', async () => {
    const [a, b] = await Promise.all([send(0, data.length), send(SEND_CHUNK + 1, data.length)]);
    assert.ok(a.equals(data));
    assert.ok(b.equals(data.subarray(SEND_CHUNK + 1)));
  });

  it('rejects (does not hang) when the receiver closes mid-download', async () => {
    const file = join(await tmp.make(), 'blob');
    await writeFile(file, data);
    const handle = await open(file, 'r');
    try {
      let writes = 0;
      const out = new Writable({
        write(_chunk, _enc, done) {
          // The first write completes; the second never does, and the receiver goes away.
          if (++writes === 1) done();
          else setImmediate(() => out.destroy());
        },
      });
      await assert.rejects(sendFile(handle, out, 0, data.length), /client went away/);
      assert.equal(writes, 2);
    } finally {
      await handle.close();
    }
  });

  it('rejects when the file is shorter than promised', async () => {
    await assert.rejects(send(0, data.length + 10), /file shrank/);
  });
});
