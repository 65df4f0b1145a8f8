import { createReadStream, promises as fs, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileInfo, StorageDriver } from '../driver.js';
import { ConfigError } from '../../config-error.js';
import { sendFile } from './send-file.js';
import { SyncWhileFast } from './sync-while-fast.js';
import { DurableFolders, type MadeFolders } from './durable-folders.js';
import type { BlobStore } from '../blob-store.js';
import type { UploadSessions } from '../upload-sessions.js';
import { UploadStore } from './upload-store.js';
import { STORAGE_ROOT } from '../paths.js';

const READ_BUFFER = 1 << 20;
const FLUSH_EVERY = 32 << 20;

/**
 * Appends to a file and, every FLUSH_EVERY bytes, starts an fdatasync in the background (one at a
 * time), so the disk writes back while the rest of the body arrives. The commit's own fdatasync,
 * which a 201 waits for, then has only the last few MiB left instead of the whole layer.
 */
class FlushingAppender extends Writable {
  private unflushed = 0;
  private flushing: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly handle: fs.FileHandle,
    /** fdatasync before closing: the caller commits the file next and would sync it anyway */
    private readonly syncOnEnd: boolean,
  ) {
    super({ highWaterMark: READ_BUFFER });
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    this.handle.writev(buffers).then(({ bytesWritten }) => {
      this.unflushed += bytesWritten;
      if (this.unflushed >= FLUSH_EVERY && !this.flushing) {
        this.unflushed = 0;
        this.flushing = this.handle.datasync().finally(() => (this.flushing = null));
        this.flushing.catch(() => undefined);
      }
      done();
    }, done);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this._writev([{ chunk }], done);
  }

  private close(): Promise<void> {
    this.closing ??= Promise.resolve(this.flushing)
      .catch(() => undefined)
      .then(() => this.handle.close());
    return this.closing;
  }

  override _final(done: (err?: Error | null) => void): void {
    const synced = this.syncOnEnd ? Promise.resolve(this.flushing).then(() => this.handle.datasync()) : Promise.resolve();
    synced.then(
      () => this.close().then(() => done(), done),
      (err: Error) => this.close().then(() => done(err), () => done(err)),
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.close()
      .catch(() => undefined)
      .then(() => done(err));
  }
}

/** Temp names only need to be unique per data directory: a random per-process prefix and a counter. */
const tmpPrefix = randomBytes(4).toString('hex');
let tmpCounter = 0;

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Runs `op` (a mkdir, then a write or rename into that folder) again when it fails with ENOENT
 * while `source` is still there: garbage collection removes emptied folders with rmdir, which can
 * land between our mkdir and the write, or inside a recursive mkdir. A few times at most.
 */
async function retryIfFolderVanished(op: () => Promise<void>, source = async () => true): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5 || !(await source())) throw err;
    }
  }
}

/**
 * Renames `src` to `dst`, creating the parent, and makes the new name durable (unless `durable` is
 * false: then only folders it had to create above the parent are synced).
 */
async function renameCreatingParent(folders: DurableFolders, src: string, dst: string, durable: boolean): Promise<void> {
  await retryIfFolderVanished(
    () => folders.place(path.dirname(dst), durable, () => fs.rename(src, dst)),
    () => fs.stat(src).then(() => true, () => false),
  );
}

function tmpNameBeside(target: string): string {
  return `${target}.${tmpPrefix}${(tmpCounter++).toString(16).padStart(4, '0')}.tmp`;
}

/** Writes a new file; `durable`: its bytes are on disk (fdatasync) when this resolves. */
async function writeNewFile(file: string, data: Buffer | string, durable: boolean): Promise<void> {
  if (!durable) return fs.writeFile(file, data);
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(data);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** distribution's filesystem driver layout: `<root>/docker/registry/v2/<path>`. */
export class FilesystemDriver implements StorageDriver {
  readonly root: string;
  /** stat and small whole-file reads: synchronous while they come from the page cache */
  readonly metadata = new SyncWhileFast();
  private readonly folders: DurableFolders;

  constructor(dataDir: string) {
    this.root = path.resolve(dataDir);
    this.folders = new DurableFolders(this.root);
  }

  /** Callers only pass paths built from validated names and digests; the check is a second fence. */
  full(p: string): string {
    const resolved = path.resolve(this.root, STORAGE_ROOT, p);
    if (!resolved.startsWith(this.root + path.sep)) throw new Error(`path escapes the data directory: ${p}`);
    return resolved;
  }

  async getContent(p: string): Promise<Buffer | null> {
    try {
      const file = this.full(p);
      return await this.metadata.run(
        () => readFileSync(file),
        () => fs.readFile(file),
      );
    } catch (err) {
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'EISDIR') return null;
      throw err;
    }
  }

  async putContent(p: string, data: Buffer | string, { durable = true }: { durable?: boolean } = {}): Promise<void> {
    const target = this.full(p);
    const tmp = tmpNameBeside(target);
    try {
      await retryIfFolderVanished(() =>
        this.folders.place(path.dirname(target), durable, async () => {
          await writeNewFile(tmp, data, durable);
          await fs.rename(tmp, target);
        }),
      );
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  async stat(p: string): Promise<FileInfo | null> {
    try {
      const file = this.full(p);
      const s = await this.metadata.run(
        () => statSync(file),
        () => fs.stat(file),
      );
      return { size: s.size, modTime: s.mtime };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  reader(p: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.full(p), { highWaterMark: READ_BUFFER, ...(range ?? {}) });
  }

  async list(dir: string): Promise<string[]> {
    try {
      return await fs.readdir(this.full(dir));
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  async delete(p: string): Promise<void> {
    // A push into the folder meanwhile (a tag written while it is deleted) makes the final rmdir
    // fail with ENOTEMPTY; rm then walks the folder again.
    await fs.rm(this.full(p), { recursive: true, force: true, maxRetries: 5, retryDelay: 10 });
  }

  async move(src: string, dst: string): Promise<FileInfo | null> {
    // gc's moves: one lost to a power cut leaves the item where it was, to be collected next time
    await renameCreatingParent(this.folders, this.full(src), this.full(dst), false);
    const target = this.full(dst);
    // rename keeps the mtime; a writer that replaces dst meanwhile makes this a little late, never wrong
    const s = await fs.stat(target).catch(() => null);
    return s?.isFile() ? { size: s.size, modTime: s.mtime } : null;
  }

  async openAppend(p: string, opts: { syncOnEnd?: boolean } = {}): Promise<Writable> {
    const target = this.full(p);
    let handle: fs.FileHandle;
    try {
      // the folder almost always exists (an upload session's): try before creating it
      handle = await fs.open(target, 'a');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await fs.mkdir(path.dirname(target), { recursive: true });
      handle = await fs.open(target, 'a');
    }
    return new FlushingAppender(handle, opts.syncOnEnd ?? false);
  }

  /** Moves a file into place for good: the new name survives a power cut when this resolves. */
  async rename(src: string, dst: string): Promise<void> {
    await renameCreatingParent(this.folders, this.full(src), this.full(dst), true);
  }

  /** Sets a folder's time to now, creating it (and the folders above it, durably) if need be. */
  async touchFolder(p: string): Promise<void> {
    const dir = this.full(p);
    const now = new Date();
    try {
      await fs.utimes(dir, now, now);
    } catch (err) {
      if (!isMissing(err)) throw err;
      await retryIfFolderVanished(async () => {
        // a new folder's time is now already; as for scratch files, only the folders above it are synced
        await this.folders.settle(await this.folders.make(dir), false);
      });
    }
  }

  /**
   * Streams `body` into a new file beside `p` (each chunk seen by `onChunk`), fdatasynced, and
   * gives it the name `p` (durably, as `rename` does) unless `verify()` throws once all of it is
   * there; then, or when the body fails, the file is removed, and `p`'s folder with it when that
   * leaves the folder empty. `onPlacing` is handed the rename and its syncs while they run.
   */
  async receiveFile(
    p: string,
    body: Readable,
    onChunk: (chunk: Buffer) => void,
    verify: () => void,
    onPlacing?: (placing: Promise<void>) => void,
  ): Promise<void> {
    const target = this.full(p);
    const dir = path.dirname(target);
    const tmp = tmpNameBeside(target);
    let made: MadeFolders | undefined;
    let handle: fs.FileHandle | undefined;
    await retryIfFolderVanished(async () => {
      made = await this.folders.make(dir);
      try {
        handle = await fs.open(tmp, 'wx');
      } catch (err) {
        await this.folders.settle(made, false).catch(() => undefined);
        throw err;
      }
    });
    let settling = false;
    let renamed = false;
    try {
      body.on('data', onChunk);
      await pipeline(body, new FlushingAppender(handle!, true));
      verify();
      const placing = fs.rename(tmp, target).then(() => {
        renamed = true;
        settling = true;
        return this.folders.settle(made!, true);
      });
      onPlacing?.(placing);
      await placing;
    } finally {
      if (!settling) await this.folders.settle(made!, false).catch(() => undefined);
      if (!renamed) {
        await fs.rm(tmp, { force: true });
        await fs.rmdir(dir).catch(() => undefined); // only succeeds when nothing else is in it
      }
    }
  }

  /**
   * Removes the named files of a folder and the folder, in two or three system calls instead of a
   * recursive walk; anything else in it (another registry's hash states) falls back to the walk.
   */
  async removeFolder(dir: string, files: readonly string[]): Promise<void> {
    try {
      for (const f of files) await fs.unlink(this.full(`${dir}/${f}`)).catch((err) => { if (!isMissing(err)) throw err; });
      await fs.rmdir(this.full(dir));
    } catch (err) {
      if (isMissing(err)) return;
      await this.delete(dir);
    }
  }

  uploadSessions(blobs: BlobStore): UploadSessions {
    return new UploadStore(this, blobs);
  }

  async sync(p: string): Promise<void> {
    const handle = await fs.open(this.full(p), 'r+');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  async openForSend(p: string) {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.full(p), 'r');
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    const size = (await handle.stat()).size;
    return {
      size,
      send: (out: Writable, range?: { start: number; end: number }) => sendFile(handle, out, range?.start ?? 0, range ? range.end + 1 : size),
      close: () => handle.close(),
    };
  }

  describe(): string {
    return this.root;
  }

  /**
   * At start: a data directory that is a file, or one the registry cannot write, would otherwise
   * serve pulls and answer every push with a 500. A missing one is created when writable.
   */
  async check({ writable = true }: { writable?: boolean } = {}): Promise<void> {
    const s = await fs.stat(this.root).catch((err: NodeJS.ErrnoException) => {
      if (isMissing(err)) return null;
      throw new ConfigError(`${this.root}: cannot use the data directory (${err.code ?? err.message})`);
    });
    if (s && !s.isDirectory()) throw new ConfigError(`${this.root}: not a directory; the data directory must be one`);
    if (!writable) return;
    const probe = path.join(this.root, `.write-probe.${tmpPrefix}${process.pid}.tmp`);
    try {
      if (!s) await fs.mkdir(this.root, { recursive: true });
      await fs.writeFile(probe, '', { flag: 'wx' });
      await fs.unlink(probe);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      // mkdir says ENOTDIR or EEXIST when a folder on the way is a file
      if (code === 'ENOTDIR' || code === 'EEXIST') throw new ConfigError(`${this.root}: cannot make the data directory there: part of the path is a file`);
      throw new ConfigError(`${this.root}: the registry cannot write its data directory (${code}); fix its owner or permissions, or serve it --read-only`);
    }
  }
}
