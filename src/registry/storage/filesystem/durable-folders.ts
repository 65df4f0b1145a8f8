import { promises as fs } from 'node:fs';
import path from 'node:path';
import { syncDir } from '../../../fs-durable.js';

/** The folders one `make` created, outermost first; empty when `dir` was already there. */
export interface MadeFolders {
  dir: string;
  created: string[];
  /** what others placing names beneath wait for; settled by `settle` */
  synced: Promise<void>;
  done: (err?: unknown) => void;
}

/**
 * Creates folders and makes names in them durable, as POSIX asks: a new name is durable once its
 * folder is fsynced, and a new folder once its parent is. Whoever creates a folder syncs its entry;
 * a durable name placed beneath a folder that another request created and has not synced yet waits
 * for that sync, so no 201 goes out while a folder above it could still vanish in a power cut.
 */
export class DurableFolders {
  /** created folder -> settles when its entry in its parent is durable */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly root: string) {}

  /** mkdir -p `dir`, `place` a name in it, and `settle` (also when placing failed). */
  async place(dir: string, durable: boolean, place: () => Promise<void>): Promise<void> {
    const made = await this.make(dir);
    let placed = false;
    try {
      await place();
      placed = true;
    } finally {
      await this.settle(made, durable && placed);
    }
  }

  /** mkdir -p `dir`; pass the result to `settle` once the file is in place, also when that failed. */
  async make(dir: string): Promise<MadeFolders> {
    const first = await fs.mkdir(dir, { recursive: true });
    const created: string[] = [];
    if (first !== undefined) for (let d = dir; d.length >= first.length && d !== path.dirname(d); d = path.dirname(d)) created.unshift(d);
    let done: MadeFolders['done'] = () => {};
    const synced = new Promise<void>((resolve, reject) => (done = (err) => (err === undefined ? resolve() : reject(err))));
    synced.catch(() => undefined); // the waiters, if any, see the failure
    for (const c of created) this.pending.set(c, synced);
    return { dir, created, synced, done };
  }

  /**
   * Makes the created folders' entries durable, and with `durable` the names just placed in `dir`
   * too, waiting for folders above it that others created. Without `durable` (scratch files) the
   * new `dir` itself is not synced into its parent: only folders that durable names may later be
   * placed beneath are.
   */
  async settle(made: MadeFolders, durable: boolean): Promise<void> {
    const { dir, created } = made;
    let failure: unknown;
    try {
      const entries = created.filter((c) => durable || c !== dir).map((c) => path.dirname(c));
      await Promise.all([...new Set(durable ? [...entries, dir] : entries)].map(syncDir));
    } catch (err) {
      failure = err ?? new Error('folder sync failed');
      throw err;
    } finally {
      for (const c of created) if (this.pending.get(c) === made.synced) this.pending.delete(c);
      made.done(failure);
    }
    if (!durable) return;
    const others: Promise<void>[] = [];
    for (let d = created[0] === undefined ? dir : path.dirname(created[0]); d.startsWith(this.root) && d !== path.dirname(d); d = path.dirname(d)) {
      const p = this.pending.get(d);
      if (p) others.push(p);
    }
    await Promise.all(others);
  }
}
