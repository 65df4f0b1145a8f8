import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../errors.js';
import { splitDigest } from '../names.js';
import type { BlobStore } from './blob-store.js';
import type { StorageDriver } from './driver.js';
import { checkDeclaredSize, isValidUploadId, KeyedLock, staleUploads, type UploadSessions } from './upload-sessions.js';

/** The sha256 of a session's bytes as they streamed in, while this process received all of them. */
interface RunningHash {
  hash: Hash;
  size: number;
  /** the store made the bytes durable at this size (the append that precedes a commit did) */
  synced?: number;
}

/**
 * Upload sessions, the part every driver shares: one request at a time per session, the running
 * hash, Content-Range checks, verifying the digest (from the running hash, or by reading the bytes
 * back when it is lost: a restart, a failed request, another replica), placing the blob only once
 * it is verified, linking it, cleaning up, and purging abandoned sessions.
 *
 * A driver supplies how it keeps a session's bytes (`Session` is what it reads back about one):
 * where they go as they arrive, how they become one readable file, and how that file becomes the
 * blob. It may also take shorter paths of its own (the filesystem's one-body push).
 */
export abstract class UploadSessionStore<Session, Driver extends StorageDriver = StorageDriver> implements UploadSessions {
  private readonly running = new Map<string, RunningHash>();
  protected readonly lock = new KeyedLock();
  /** blobs being moved into place and made durable, by digest: a second commit of one waits */
  protected readonly placing = new Map<string, Promise<unknown>>();

  constructor(
    protected readonly driver: Driver,
    protected readonly blobs: BlobStore,
  ) {}

  /** Starts a session (recording when, for purging) in the store or in memory; resolves to its id. */
  abstract create(name: string): Promise<string>;
  /** What the store has of a session, or null when there is no such upload. */
  protected abstract find(name: string, id: string): Promise<Session | null>;
  protected abstract bytesIn(session: Session): number;
  /**
   * Writes `body` after the session's bytes, feeding each chunk to `hash` when one is given, and
   * resolves to the number of bytes written. `last`: a commit follows, so the bytes may be made
   * durable while they are at hand.
   */
  protected abstract write(name: string, id: string, session: Session, body: Readable, hash: Hash | undefined, last: boolean): Promise<number>;
  /** Makes the session's bytes one readable file and returns its path (null when it has none). */
  protected abstract assemble(name: string, id: string, session: Session): Promise<string | null>;
  /**
   * Makes the verified bytes the blob `digest`, which the store does not have yet; durable when this
   * resolves. `synced`: the bytes are durable already. Resolves true when the session's file was
   * moved (not copied) there.
   */
  protected abstract place(name: string, id: string, session: Session, source: string | null, digest: string, size: number, synced: boolean): Promise<boolean>;
  /**
   * Removes a session and its bytes (all but `data` when `dataMoved`). `session` is undefined when
   * the caller did not read it (purging), null when there is none.
   */
  protected abstract remove(name: string, id: string, session: Session | null | undefined, dataMoved: boolean): Promise<void>;
  /** Forgets sessions older than `cutoff` that exist only in memory; returns how many. */
  protected purgeInMemory(_cutoff: number): number {
    return 0;
  }

  private session(name: string, id: string): Promise<Session | null> {
    return isValidUploadId(id) ? this.find(name, id) : Promise.resolve(null);
  }

  async size(name: string, id: string): Promise<number | null> {
    const session = await this.session(name, id);
    return session === null ? null : this.bytesIn(session);
  }

  append(name: string, id: string, body: Readable, expectStart?: number, last = false): Promise<{ before: number; after: number }> {
    return this.lock.run(`${name}/${id}`, () => this.appendLocked(name, id, body, expectStart, last));
  }

  protected async appendLocked(name: string, id: string, body: Readable, expectStart: number | undefined, last: boolean): Promise<{ before: number; after: number }> {
    const key = `${name}/${id}`;
    const session = await this.session(name, id);
    if (session === null) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload unknown');
    const current = this.bytesIn(session);
    if (expectStart !== undefined && expectStart !== current) {
      throw new RegistryError('RANGE_INVALID', `chunk starts at ${expectStart} but the upload has ${current} bytes`, undefined, 416);
    }
    let hashing = this.running.get(key);
    if (hashing && hashing.size !== current) hashing = undefined;
    // The running hash starts with the first bytes: a session never written to holds none.
    if (!hashing && current === 0) hashing = { hash: createHash('sha256'), size: 0 };
    // Until the write completes the running hash may be ahead of the stored bytes; drop it so a
    // failure forces a re-hash instead of a wrong digest.
    this.running.delete(key);
    const written = await this.write(name, id, session, body, hashing?.hash, last);
    if (hashing) {
      hashing.size = current + written;
      hashing.synced = last ? hashing.size : undefined;
      this.running.set(key, hashing);
    }
    return { before: current, after: current + written };
  }

  commit(name: string, id: string, digest: string): Promise<number> {
    return this.lock.run(`${name}/${id}`, () => this.commitLocked(name, id, digest));
  }

  appendAndCommit(name: string, id: string, body: Readable, expectStart: number | undefined, digest: string, declaredSize?: number): Promise<number> {
    return this.lock.run(`${name}/${id}`, () => this.appendAndCommitLocked(name, id, body, expectStart, digest, declaredSize));
  }

  protected async appendAndCommitLocked(name: string, id: string, body: Readable, expectStart: number | undefined, digest: string, declaredSize?: number): Promise<number> {
    const { before, after } = await this.appendLocked(name, id, body, expectStart, true);
    checkDeclaredSize(after - before, declaredSize);
    return this.commitLocked(name, id, digest);
  }

  protected async commitLocked(name: string, id: string, digest: string): Promise<number> {
    const session = await this.session(name, id);
    if (session === null) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload unknown');
    const size = this.bytesIn(session);
    const running = this.running.get(`${name}/${id}`);
    const source = await this.assemble(name, id, session);
    const { algorithm } = splitDigest(digest);
    let actual: string;
    if (algorithm === 'sha256' && running && running.size === size) actual = `sha256:${running.hash.digest('hex')}`;
    else {
      const hash = createHash(algorithm);
      if (source !== null && size > 0) await pipeline(this.driver.reader(source), hash);
      actual = `${algorithm}:${hash.digest('hex')}`;
    }
    if (actual !== digest) {
      await this.removeLocked(name, id, session, false);
      throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { expected: digest, actual });
    }
    let moved = false;
    if ((await this.blobs.size(digest)) === null) {
      const placed = this.place(name, id, session, source, digest, size, running?.synced === size);
      // Another commit of the same blob may find it in place before it is durable: it waits too.
      this.placing.set(digest, placed);
      try {
        moved = await placed;
      } finally {
        if (this.placing.get(digest) === placed) this.placing.delete(digest);
      }
    } else {
      await this.placing.get(digest)?.catch(() => undefined);
    }
    await this.blobs.link(name, digest);
    await this.removeLocked(name, id, session, moved);
    return size;
  }

  async cancel(name: string, id: string): Promise<boolean> {
    return this.lock.run(`${name}/${id}`, async () => {
      const session = await this.session(name, id);
      if (session === null) return false;
      await this.removeLocked(name, id, session, false);
      return true;
    });
  }

  private async removeLocked(name: string, id: string, session: Session | null | undefined, dataMoved: boolean): Promise<void> {
    this.running.delete(`${name}/${id}`);
    await this.remove(name, id, session, dataMoved);
  }

  async purge(maxAgeMs: number, repositories: string[]): Promise<number> {
    let purged = this.purgeInMemory(Date.now() - maxAgeMs);
    for await (const { name, id } of staleUploads(this.driver, maxAgeMs, repositories)) {
      // a request on it is in flight (perhaps a client that stalled mid-body): waiting for it
      // would hold up every session after it; the next run looks again
      if (this.lock.busy(`${name}/${id}`)) continue;
      await this.lock.run(`${name}/${id}`, () => this.removeLocked(name, id, undefined, false));
      purged++;
    }
    return purged;
  }
}
