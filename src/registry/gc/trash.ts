import { promises as fs } from 'node:fs';
import os from 'node:os';
import type { StorageDriver } from '../storage/driver.js';
import { FilesystemDriver } from '../storage/filesystem/driver.js';
import { ConfigError } from '../config.js';

/**
 * The collector's own folder beside `blobs/` and `repositories/` (neither the registry nor
 * distribution looks at it): `_gc/lock` and one `_gc/<run>/` trash per run, mirroring the paths
 * of what was moved there, so that a run that dies half-way is undone by the next one.
 */
export const GC_DIR = '_gc';
const LOCK = `${GC_DIR}/lock`;
const STALE_LOCK_MS = 24 * 3600_000;

/** A ConfigError so that the entry points print one line (the user can act on it), not a stack. */
export class GcBusyError extends ConfigError {}

export type TrashKind = 'blob' | 'revision' | 'layer';

export interface TrashItem {
  kind: TrashKind;
  /** Repository of a link; empty for a blob. */
  repo: string;
  digest: string;
  /** Path of the file (blob `data` or `link`) relative to the registry root. */
  path: string;
  /** mtime when scanned; a link moved aside with another mtime was rewritten by a client. */
  mtime: number;
  size: number;
  /** modification time of what was actually moved aside */
  movedMtime?: number;
  /** pending → trashed (moved aside) → restored | deleted; vanished = someone else removed it first. */
  state: 'pending' | 'trashed' | 'restored' | 'vanished' | 'deleted';
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

const parentOf = (path: string) => path.slice(0, path.lastIndexOf('/'));

/**
 * Removes a directory only if it is empty, atomically (rmdir), so that a file a client writes into
 * it at the same moment is never lost. Object stores have no directories; nothing to do there.
 */
export async function removeEmptyDir(driver: StorageDriver, dir: string): Promise<void> {
  if (!(driver instanceof FilesystemDriver)) return;
  await fs.rmdir(driver.full(dir)).catch(() => undefined);
}

/** Puts a moved-aside file back unless the path was written again meanwhile (same content: content-addressed). */
async function putBack(driver: StorageDriver, from: string, to: string): Promise<void> {
  if (await driver.stat(to)) await driver.delete(from);
  else await driver.move(from, to);
}

export class Trash {
  readonly root: string;

  constructor(
    private readonly driver: StorageDriver,
    runId: string,
  ) {
    this.root = `${GC_DIR}/${runId}`;
  }

  private aside(path: string): string {
    return `${this.root}/${path}`;
  }

  /** Moves the item aside (atomic rename); it is then invisible to the registry but recoverable. */
  async put(item: TrashItem): Promise<void> {
    try {
      const moved = await this.driver.move(item.path, this.aside(item.path));
      item.movedMtime = moved?.modTime.getTime();
      item.state = 'trashed';
    } catch (err) {
      if (!isMissing(err)) throw err;
      item.state = 'vanished';
    }
  }

  /** True when the moved-aside link is not the one the scan saw: a client wrote it again since. */
  async rewritten(item: TrashItem): Promise<boolean> {
    if (item.movedMtime !== undefined) return item.movedMtime !== item.mtime;
    const info = await this.driver.stat(this.aside(item.path));
    return info !== null && info.modTime.getTime() !== item.mtime;
  }

  async restore(item: TrashItem): Promise<void> {
    await putBack(this.driver, this.aside(item.path), item.path);
    item.state = 'restored';
  }

  /** Reads a moved-aside file (a manifest needed by the re-check). */
  read(path: string): Promise<Buffer | null> {
    return this.driver.getContent(this.aside(path));
  }

  /** Deletes for good what is still aside, then the folders that held it if they are now empty. */
  async finish(items: TrashItem[]): Promise<void> {
    await this.driver.delete(this.root);
    for (const item of items) {
      if (item.state !== 'trashed') continue;
      // A client uploaded the same blob again while our copy was aside: it was not freed.
      if (item.kind === 'blob' && (await this.driver.stat(item.path))) {
        item.state = 'restored';
        continue;
      }
      item.state = 'deleted';
      await removeEmptyDir(this.driver, parentOf(item.path));
    }
  }
}

interface LockInfo {
  runId: string;
  pid: number;
  host: string;
  startedAt: string;
}

function isLive(lock: LockInfo): boolean {
  if (lock.host === os.hostname()) {
    try {
      process.kill(lock.pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  return Date.now() - Date.parse(lock.startedAt) < STALE_LOCK_MS;
}

/** One collector at a time per data directory; a lock left by a dead process is taken over. */
export async function acquireLock(driver: StorageDriver, runId: string): Promise<void> {
  const read = async (): Promise<LockInfo | null> => {
    const raw = await driver.getContent(LOCK);
    if (!raw) return null;
    try {
      return JSON.parse(raw.toString('utf8')) as LockInfo;
    } catch {
      return null;
    }
  };
  const held = await read();
  if (held && isLive(held)) {
    throw new GcBusyError(
      `another garbage collection is running on this data directory (pid ${held.pid} on ${held.host}, since ${held.startedAt}); ` +
        `if it is not, remove ${driver.describe()}/docker/registry/v2/${LOCK}`,
    );
  }
  const mine: LockInfo = { runId, pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
  await driver.putContent(LOCK, JSON.stringify(mine));
  if ((await read())?.runId !== runId) throw new GcBusyError('another garbage collection started at the same moment');
}

export async function releaseLock(driver: StorageDriver, runId: string): Promise<void> {
  const raw = await driver.getContent(LOCK);
  if (raw && raw.toString('utf8').includes(`"${runId}"`)) await driver.delete(LOCK);
  await removeEmptyDir(driver, GC_DIR);
}

/**
 * Undoes runs that died before finishing: everything they moved aside goes back (blobs first, so a
 * restored link never names a missing blob). Undoing is always safe: what was garbage is garbage
 * again and this run collects it. Returns how many files were put back.
 */
export async function recoverAbandoned(driver: StorageDriver, currentRun: string): Promise<number> {
  let restored = 0;
  const walk = async (dir: string, root: string): Promise<void> => {
    for (const entry of await driver.list(dir)) {
      const path = `${dir}/${entry}`;
      const children = await driver.list(path);
      if (children.length > 0) {
        await walk(path, root);
      } else if ((entry === 'data' || entry === 'link') && (await driver.stat(path))) {
        await putBack(driver, path, path.slice(root.length + 1));
        restored++;
      }
    }
  };
  for (const run of await driver.list(GC_DIR)) {
    if (run === 'lock' || run === currentRun || run.endsWith('.tmp')) continue;
    const root = `${GC_DIR}/${run}`;
    await walk(`${root}/blobs`, root);
    await walk(`${root}/repositories`, root);
    await driver.delete(root);
  }
  return restored;
}
