import { createHash, randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../../errors.js';
import { splitDigest } from '../../names.js';
import type { FilesystemDriver } from './driver.js';
import type { BlobStore } from '../blob-store.js';
import { checkDeclaredSize } from '../upload-sessions.js';
import { UploadSessionStore } from '../upload-session-store.js';
import { blobDataPath, uploadDataPath, uploadDir, uploadsDir, uploadStartedAtPath } from '../paths.js';

/** Sessions kept in memory until their first bytes; beyond this many, new ones start on disk. */
const UNWRITTEN_LIMIT = 10_000;
/** How often a repository's `_uploads` folder is touched while sessions start in memory there. */
const MARK_EVERY_MS = 10_000;

/**
 * Upload sessions in distribution's `_uploads/<uuid>/` layout (the session logic itself is the
 * shared UploadSessionStore's). Bytes are hashed as they stream in, so committing a verified blob
 * costs a rename; if the running hash is lost (restart, failed request) the data file is re-hashed
 * at commit, as distribution does.
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
 *
 * The in-memory sessions and the one-body path stay here rather than in the shared store: they
 * rely on renaming a new file into the blob's folder, which an object store cannot do cheaply (it
 * copies), and they are what a small push's speed rests on.
 */
export class UploadStore extends UploadSessionStore<number, FilesystemDriver> {
  /** sessions without a folder yet, by `name/id`: when each was started (ms since the epoch) */
  private readonly unwritten = new Map<string, number>();
  /** repository -> when its `_uploads` folder was last touched */
  private readonly marked = new Map<string, number>();

  constructor(
    driver: FilesystemDriver,
    blobs: BlobStore,
    private readonly unwrittenLimit = UNWRITTEN_LIMIT,
  ) {
    super(driver, blobs);
  }

  async create(name: string): Promise<string> {
    const id = randomUUID();
    if (this.unwritten.size < this.unwrittenLimit) {
      await this.markPushUnderWay(name);
      this.unwritten.set(`${name}/${id}`, Date.now());
    } else await this.writeStartedAt(name, id, Date.now());
    return id;
  }

  async adopt(name: string, id: string): Promise<void> {
    if ((await this.find(name, id)) !== null) return;
    await this.markPushUnderWay(name);
    this.unwritten.set(`${name}/${id}`, Date.now());
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

  /** The session's size in bytes. */
  protected async find(name: string, id: string): Promise<number | null> {
    if (this.unwritten.has(`${name}/${id}`)) return 0;
    // `data` is created after `startedat` and removed before it, so with `data` the session exists
    const info = await this.driver.stat(uploadDataPath(name, id));
    if (info) return info.size;
    return (await this.driver.stat(uploadStartedAtPath(name, id))) ? 0 : null;
  }

  protected bytesIn(size: number): number {
    return size;
  }

  protected async write(name: string, id: string, _size: number, body: Readable, hash: Hash | undefined, last: boolean): Promise<number> {
    await this.materialize(name, id);
    const out = await this.driver.openAppend(uploadDataPath(name, id), { syncOnEnd: last });
    // Every chunk the body emits is one the pipe writes, so a plain 'data' listener sees exactly
    // the bytes written; a Transform stage in between cost a few percent of a big push's CPU.
    let written = 0;
    body.on('data', (chunk: Buffer) => {
      written += chunk.length;
      hash?.update(chunk);
    });
    await pipeline(body, out);
    return written;
  }

  protected async assemble(name: string, id: string): Promise<string> {
    await this.materialize(name, id);
    return uploadDataPath(name, id);
  }

  protected async place(name: string, id: string, _size: number, _source: string | null, digest: string, size: number, synced: boolean): Promise<boolean> {
    const data = uploadDataPath(name, id);
    if (size === 0) await this.driver.putContent(data, Buffer.alloc(0), { durable: false }); // synced just below
    // A 201 promises the blob survives a power cut: flush the bytes before they become visible.
    if (!synced) await this.driver.sync(data);
    await this.driver.rename(data, blobDataPath(digest));
    return true;
  }

  protected async remove(name: string, id: string, _size: number | null | undefined, dataMoved: boolean): Promise<void> {
    if (this.unwritten.delete(`${name}/${id}`)) return;
    await this.driver.removeFolder(uploadDir(name, id), dataMoved ? ['startedat'] : ['data', 'startedat']);
  }

  protected override purgeInMemory(cutoff: number): number {
    let purged = 0;
    for (const [key, startedAt] of this.unwritten) {
      if (startedAt >= cutoff) continue;
      this.unwritten.delete(key);
      purged++;
    }
    return purged;
  }

  override appendAndCommit(name: string, id: string, body: Readable, expectStart: number | undefined, digest: string, declaredSize?: number): Promise<number> {
    const key = `${name}/${id}`;
    return this.lock.run(key, async () => {
      if (this.unwritten.has(key) && (expectStart === undefined || expectStart === 0)) return this.receiveWhole(name, id, body, digest, declaredSize);
      return this.appendAndCommitLocked(name, id, body, expectStart, digest, declaredSize);
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
}
