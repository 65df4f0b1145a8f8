// Atomic file replacement on the local filesystem: write a temp file in the same directory (created
// with its final mode, so a secret is never readable by others even for a moment), fsync, rename
// over the target, fsync the directory.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { syncDir as syncFolder } from '../fs-durable.js';

export interface FileOwner {
  uid: number;
  gid: number;
}

export interface AtomicWriteOptions {
  mode: number;
  /** chown the new file (needs root unless it is the caller's own uid/gid) */
  owner?: FileOwner;
}

/** Writes `data` to a new temp file next to `target` and returns its path; the caller renames it. */
export async function writeTempBeside(target: string, data: string | Buffer, opts: AtomicWriteOptions): Promise<string> {
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', opts.mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(opts.mode); // the umask may have narrowed the mode given to open()
    if (opts.owner) await fh.chown(opts.owner.uid, opts.owner.gid);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  return tmp;
}

/** fsync a directory so that renames in it survive a crash; best effort (not every filesystem allows it). */
export async function syncDir(dir: string): Promise<void> {
  await syncFolder(dir).catch(() => undefined);
}

/** Replaces `target` atomically (readers see the old or the new content, never a mix). */
export async function writeFileAtomic(target: string, data: string | Buffer, opts: AtomicWriteOptions): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = await writeTempBeside(target, data, opts);
  try {
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dirname(target));
}

/**
 * The owner a replacement of `target` should get: `explicit` when given; else, when running as
 * root, the owner of the existing file (so that e.g. a key readable only by nginx's uid stays so);
 * else none (the file belongs to whoever writes it).
 */
export async function ownerFor(target: string, explicit?: FileOwner): Promise<FileOwner | undefined> {
  if (explicit) return explicit;
  if (process.getuid?.() !== 0) return undefined;
  try {
    const st = await stat(target);
    return { uid: st.uid, gid: st.gid };
  } catch {
    return undefined;
  }
}

export function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}
