import { createHash, randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../errors.js';
import { splitDigest } from '../names.js';
import type { FilesystemDriver } from './filesystem.js';
import type { BlobStore } from './blob-store.js';
import { isValidUploadId, KeyedLock, staleUploads, type UploadSessions } from './upload-sessions.js';
import { blobDataPath, uploadDataPath, uploadDir, uploadStartedAtPath } from './paths.js';

interface HashState {
  hash: Hash;
  size: number;
  /** the data file was fdatasynced at this size (by the append that precedes a commit) */
  synced?: number;
}

/**
 * Upload sessions in distribution's `_uploads/<uuid>/` layout. Bytes are hashed as they stream
 * in, so committing a verified blob costs a rename; if the running hash is lost (restart, failed
 * request) the data file is re-hashed at commit, as distribution does.
 *
 * A push of a small blob is mostly file-system calls, each a round trip through libuv's thread
 * pool, so they are kept few: `data` is created by the first append (a session without it has 0
 * bytes), the append before a commit syncs on its own handle, and cleaning up removes the known
 * files instead of walking the folder.
 */
export class UploadStore implements UploadSessions {
  private readonly hashes = new Map<string, HashState>();
  private readonly lock = new KeyedLock();
  /** blobs being renamed into place and synced, by digest */
  private readonly placing = new Map<string, Promise<void>>();

  constructor(
    private readonly driver: FilesystemDriver,
    private readonly blobs: BlobStore,
  ) {}

  async create(name: string): Promise<string> {
    const id = randomUUID();
    // A session lost to a power cut is simply started again by the client: no sync for it.
    await this.driver.putContent(uploadStartedAtPath(name, id), new Date().toISOString(), { durable: false });
    this.hashes.set(`${name}/${id}`, { hash: createHash('sha256'), size: 0 });
    return id;
  }

  async size(name: string, id: string): Promise<number | null> {
    if (!isValidUploadId(id)) return null;
    // `data` is created after `startedat` and removed before it, so with `data` the session exists
    const info = await this.driver.stat(uploadDataPath(name, id));
    if (info) return info.size;
    return (await this.driver.stat(uploadStartedAtPath(name, id))) ? 0 : null;
  }

  async append(name: string, id: string, body: Readable, expectStart?: number, last = false): Promise<{ before: number; after: number }> {
    const key = `${name}/${id}`;
    return this.lock.run(key, async () => {
      const current = await this.size(name, id);
      if (current === null) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload unknown');
      if (expectStart !== undefined && expectStart !== current) {
        throw new RegistryError('RANGE_INVALID', `chunk starts at ${expectStart} but the upload has ${current} bytes`, undefined, 416);
      }
      let state = this.hashes.get(key);
      if (state && state.size !== current) state = undefined;
      const hashing = state;
      // Until the write completes the running hash may be ahead of the file; drop it so a
      // failure forces a re-hash instead of a wrong digest.
      this.hashes.delete(key);
      const out = await this.driver.openAppend(uploadDataPath(name, id), { syncOnEnd: last });
      // Every chunk the body emits is one the pipe writes, so a plain 'data' listener sees exactly
      // the bytes written; a Transform stage in between cost a few percent of a big push's CPU.
      let written = 0;
      body.on('data', (chunk: Buffer) => {
        written += chunk.length;
        hashing?.hash.update(chunk);
      });
      await pipeline(body, out);
      if (hashing) {
        hashing.size = current + written;
        hashing.synced = last ? hashing.size : undefined;
        this.hashes.set(key, hashing);
      }
      return { before: current, after: current + written };
    });
  }

  async commit(name: string, id: string, digest: string): Promise<number> {
    const key = `${name}/${id}`;
    return this.lock.run(key, async () => {
      const size = await this.size(name, id);
      if (size === null) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload unknown');
      const actual = await this.digestOf(key, uploadDataPath(name, id), size, splitDigest(digest).algorithm);
      if (actual !== digest) {
        await this.removeLocked(name, id, false);
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { expected: digest, actual });
      }
      let moved = false;
      if ((await this.blobs.size(digest)) === null) {
        const data = uploadDataPath(name, id);
        if (size === 0) await this.driver.putContent(data, Buffer.alloc(0), { durable: false }); // synced just below
        // A 201 promises the blob survives a power cut: flush the bytes before they become visible.
        if (this.hashes.get(key)?.synced !== size) await this.driver.sync(data);
        const placed = this.driver.rename(data, blobDataPath(digest));
        // Another commit of the same blob finds it in place before it is durable: it waits too.
        this.placing.set(digest, placed);
        try {
          await placed;
        } finally {
          if (this.placing.get(digest) === placed) this.placing.delete(digest);
        }
        moved = true;
      } else {
        await this.placing.get(digest)?.catch(() => undefined);
      }
      await this.blobs.link(name, digest);
      await this.removeLocked(name, id, moved);
      return size;
    });
  }

  private async digestOf(key: string, dataPath: string, size: number, algorithm: string): Promise<string> {
    const state = this.hashes.get(key);
    if (algorithm === 'sha256' && state && state.size === size) return `sha256:${state.hash.digest('hex')}`;
    const hash = createHash(algorithm);
    if (size > 0) await pipeline(this.driver.reader(dataPath), hash);
    return `${algorithm}:${hash.digest('hex')}`;
  }

  async cancel(name: string, id: string): Promise<boolean> {
    return this.lock.run(`${name}/${id}`, async () => {
      if ((await this.size(name, id)) === null) return false;
      await this.removeLocked(name, id, false);
      return true;
    });
  }

  private async removeLocked(name: string, id: string, dataMoved: boolean): Promise<void> {
    this.hashes.delete(`${name}/${id}`);
    await this.driver.removeFolder(uploadDir(name, id), dataMoved ? ['startedat'] : ['data', 'startedat']);
  }

  async purge(maxAgeMs: number, repositories: string[]): Promise<number> {
    let purged = 0;
    for await (const { name, id } of staleUploads(this.driver, maxAgeMs, repositories)) {
      await this.lock.run(`${name}/${id}`, () => this.removeLocked(name, id, false));
      purged++;
    }
    return purged;
  }
}
