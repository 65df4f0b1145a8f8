import { createHash, randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../../errors.js';
import { splitDigest } from '../../names.js';
import type { FilesystemDriver } from './driver.js';
import type { BlobStore } from '../blob-store.js';
import { checkDeclaredSize, isValidUploadId, KeyedLock, staleUploads, type UploadSessions } from '../upload-sessions.js';
import { blobDataPath, uploadDataPath, uploadDir, uploadsDir, uploadStartedAtPath } from '../paths.js';

interface HashState {
  hash: Hash;
  size: number;
  /** the data file was fdatasynced at this size (by the append that precedes a commit) */
  synced?: number;
}

/** Sessions kept in memory until their first bytes; beyond this many, new ones start on disk. */
const UNWRITTEN_LIMIT = 10_000;
/** How often a repository's `_uploads` folder is touched while sessions start in memory there. */
const MARK_EVERY_MS = 10_000;

/**
 * Upload sessions in distribution's `_uploads/<uuid>/` layout. Bytes are hashed as they stream
 * in, so committing a verified blob costs a rename; if the running hash is lost (restart, failed
 * request) the data file is re-hashed at commit, as distribution does.
 *
 * A push of a small blob is mostly file-system calls, each a round trip through libuv's thread
 * pool, so they are kept few: `data` is created by the first append (a session without it has 0
 * bytes), the append before a commit syncs on its own handle, and cleaning up removes the known
 * files instead of walking the folder.
 *
 * A session gets its folder only with its first bytes: until then it is a time in memory. A body
 * that completes such a session in one request (POST then PUT, or POST ?digest=) is streamed
 * straight into a new file in the blob's own folder and renamed to `data` once verified: no
 * session folder is made and removed. That churn was what a small push spent most in: ext4 looks
 * past every recently deleted inode when it allocates one (`recently_deleted` was ~25% of the
 * server's CPU under perf). The price: a session that has received nothing is forgotten by a
 * restart, and its client starts the upload again. So that garbage collection, another process,
 * still sees a push under way in the repository, starting a session touches the repository's
 * `_uploads` folder (at most every MARK_EVERY_MS), whose time gc reads as an upload's.
 */
export class UploadStore implements UploadSessions {
  private readonly hashes = new Map<string, HashState>();
  private readonly lock = new KeyedLock();
  /** blobs being renamed into place and synced, by digest */
  private readonly placing = new Map<string, Promise<void>>();
  /** sessions without a folder yet, by `name/id`: when each was started (ms since the epoch) */
  private readonly unwritten = new Map<string, number>();
  /** repository -> when its `_uploads` folder was last touched */
  private readonly marked = new Map<string, number>();

  constructor(
    private readonly driver: FilesystemDriver,
    private readonly blobs: BlobStore,
    private readonly unwrittenLimit = UNWRITTEN_LIMIT,
  ) {}

  async create(name: string): Promise<string> {
    const id = randomUUID();
    const key = `${name}/${id}`;
    if (this.unwritten.size < this.unwrittenLimit) {
      await this.markPushUnderWay(name);
      this.unwritten.set(key, Date.now());
    } else await this.writeStartedAt(name, id, Date.now());
    return id;
  }

  private async markPushUnderWay(name: string): Promise<void> {
    const now = Date.now();
    if ((this.marked.get(name) ?? -Infinity) > now - MARK_EVERY_MS) return;
    this.marked.set(name, now);
    try {
      await this.driver.touchFolder(uploadsDir(name));
    } catch (err) {
      this.marked.delete(name);
      throw err;
    }
  }

  private async writeStartedAt(name: string, id: string, startedAt: number): Promise<void> {
    // A session lost to a power cut is simply started again by the client: no sync for it.
    await this.driver.putContent(uploadStartedAtPath(name, id), new Date(startedAt).toISOString(), { durable: false });
  }

  /** Gives a session kept in memory its folder on disk, before its first bytes go there. */
  private async materialize(name: string, id: string): Promise<void> {
    const key = `${name}/${id}`;
    const startedAt = this.unwritten.get(key);
    if (startedAt === undefined) return;
    await this.writeStartedAt(name, id, startedAt);
    this.unwritten.delete(key);
  }

  async size(name: string, id: string): Promise<number | null> {
    if (!isValidUploadId(id)) return null;
    if (this.unwritten.has(`${name}/${id}`)) return 0;
    // `data` is created after `startedat` and removed before it, so with `data` the session exists
    const info = await this.driver.stat(uploadDataPath(name, id));
    if (info) return info.size;
    return (await this.driver.stat(uploadStartedAtPath(name, id))) ? 0 : null;
  }

  append(name: string, id: string, body: Readable, expectStart?: number, last = false): Promise<{ before: number; after: number }> {
    return this.lock.run(`${name}/${id}`, () => this.appendLocked(name, id, body, expectStart, last));
  }

  private async appendLocked(name: string, id: string, body: Readable, expectStart: number | undefined, last: boolean): Promise<{ before: number; after: number }> {
    const key = `${name}/${id}`;
    const current = await this.size(name, id);
    if (current === null) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload unknown');
    if (expectStart !== undefined && expectStart !== current) {
      throw new RegistryError('RANGE_INVALID', `chunk starts at ${expectStart} but the upload has ${current} bytes`, undefined, 416);
    }
    await this.materialize(name, id);
    let state = this.hashes.get(key);
    if (state && state.size !== current) state = undefined;
    // The running hash starts with the first bytes: a session never written to holds none.
    if (!state && current === 0) state = { hash: createHash('sha256'), size: 0 };
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
  }

  commit(name: string, id: string, digest: string): Promise<number> {
    return this.lock.run(`${name}/${id}`, () => this.commitLocked(name, id, digest));
  }

  appendAndCommit(name: string, id: string, body: Readable, expectStart: number | undefined, digest: string, declaredSize?: number): Promise<number> {
    const key = `${name}/${id}`;
    return this.lock.run(key, async () => {
      if (this.unwritten.has(key) && (expectStart === undefined || expectStart === 0)) return this.receiveWhole(name, id, body, digest, declaredSize);
      const { before, after } = await this.appendLocked(name, id, body, expectStart, true);
      checkDeclaredSize(after - before, declaredSize);
      return this.commitLocked(name, id, digest);
    });
  }

  /** A session without bytes completed by one body: into the blob's folder directly (see the class comment). */
  private async receiveWhole(name: string, id: string, body: Readable, digest: string, declaredSize: number | undefined): Promise<number> {
    const key = `${name}/${id}`;
    this.unwritten.delete(key);
    const { algorithm } = splitDigest(digest);
    const hash = createHash(algorithm);
    let size = 0;
    const verify = (): void => {
      checkDeclaredSize(size, declaredSize);
      const actual = `${algorithm}:${hash.digest('hex')}`;
      if (actual !== digest) throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { expected: digest, actual });
    };
    if ((await this.blobs.size(digest)) !== null) {
      // The bytes are there already: the body only has to prove the client has them too.
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        hash.update(chunk);
      }
      verify();
      await this.placing.get(digest)?.catch(() => undefined);
    } else {
      let placing: Promise<void> | undefined;
      await this.driver.receiveFile(
        blobDataPath(digest),
        body,
        (chunk) => {
          size += chunk.length;
          hash.update(chunk);
        },
        verify,
        (p) => {
          placing = p;
          this.placing.set(digest, p);
        },
      ).finally(() => {
        if (placing && this.placing.get(digest) === placing) this.placing.delete(digest);
      });
    }
    await this.blobs.link(name, digest);
    return size;
  }

  private async commitLocked(name: string, id: string, digest: string): Promise<number> {
    const key = `${name}/${id}`;
    await this.materialize(name, id);
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
      if (this.unwritten.delete(`${name}/${id}`)) return true;
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
    const cutoff = Date.now() - maxAgeMs;
    for (const [key, startedAt] of this.unwritten) {
      if (startedAt >= cutoff) continue;
      this.unwritten.delete(key);
      purged++;
    }
    for await (const { name, id } of staleUploads(this.driver, maxAgeMs, repositories)) {
      // a request on it is in flight (perhaps a client that stalled mid-body): waiting for it
      // would hold up every session after it; the next run looks again
      if (this.lock.busy(`${name}/${id}`)) continue;
      await this.lock.run(`${name}/${id}`, () => this.removeLocked(name, id, false));
      purged++;
    }
    return purged;
  }
}
