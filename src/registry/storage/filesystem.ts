import { createReadStream, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import type { FileInfo, StorageDriver } from './driver.js';
import { sendFile } from './send-file.js';

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

  constructor(private readonly handle: fs.FileHandle) {
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
    this.close().then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.close()
      .catch(() => undefined)
      .then(() => done(err));
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** distribution's filesystem driver layout: `<root>/docker/registry/v2/<path>`. */
export class FilesystemDriver implements StorageDriver {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = path.resolve(dataDir);
  }

  /** Callers only pass paths built from validated names and digests; the check is a second fence. */
  full(p: string): string {
    const resolved = path.resolve(this.root, 'docker/registry/v2', p);
    if (!resolved.startsWith(this.root + path.sep)) throw new Error(`path escapes the data directory: ${p}`);
    return resolved;
  }

  async getContent(p: string): Promise<Buffer | null> {
    try {
      return await fs.readFile(this.full(p));
    } catch (err) {
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'EISDIR') return null;
      throw err;
    }
  }

  async putContent(p: string, data: Buffer | string): Promise<void> {
    const target = this.full(p);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await fs.writeFile(tmp, data);
      await fs.rename(tmp, target);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  async stat(p: string): Promise<FileInfo | null> {
    try {
      const s = await fs.stat(this.full(p));
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
    await fs.rm(this.full(p), { recursive: true, force: true });
  }

  async move(src: string, dst: string): Promise<FileInfo | null> {
    const target = this.full(dst);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(this.full(src), target);
    // rename keeps the mtime; a writer that replaces dst meanwhile makes this a little late, never wrong
    const s = await fs.stat(target).catch(() => null);
    return s?.isFile() ? { size: s.size, modTime: s.mtime } : null;
  }

  async openAppend(p: string): Promise<Writable> {
    const target = this.full(p);
    await fs.mkdir(path.dirname(target), { recursive: true });
    return new FlushingAppender(await fs.open(target, 'a'));
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
}
