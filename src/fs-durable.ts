import { promises as fs } from 'node:fs';

/** What a file system answers when it cannot fsync a folder at all: nothing more can be done there. */
const CANNOT_SYNC_FOLDERS = new Set(['EINVAL', 'EPERM', 'EISDIR', 'ENOTSUP', 'EOPNOTSUPP', 'EBADF']);

/**
 * fsync of a folder, so that the names just created, renamed or removed in it survive a power
 * cut. Quietly does nothing where the file system does not allow it, and for a folder that is gone
 * (nothing is left in it to make durable); a real I/O error is thrown.
 */
export async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await fs.open(dir, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    await handle.sync();
  } catch (err) {
    if (!CANNOT_SYNC_FOLDERS.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await handle.close();
  }
}
