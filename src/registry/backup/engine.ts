// The copy logic of backup and restore, over the storage driver interface (data directory or
// bucket alike) on the reading side and a BackupSink on the writing side.
//
// Backup order, so that every manifest in the backup has its blobs while pushes go on:
//   1. blobs: every blob linked into a repository is copied (the long part);
//   2. snapshot: a point-in-time read of tags, manifests and links (short);
//   3. catch-up: blobs the snapshot names that step 1 did not see (pushed meanwhile);
//   4. close: anything whose bytes vanished meanwhile (a delete, gc) is left out, with what needed it;
//   5. finish: links, then tags, then backup.json, which alone says the backup is complete.
// A tag acknowledged before step 2 started had its blobs stored, so it is in the backup.
import type { Readable } from 'node:stream';
import type { StorageDriver } from '../storage/driver.js';
import { blobDataPath } from '../storage/paths.js';
import { manifestRefs, type ManifestRefs } from '../gc/references.js';
import { scanRepositories } from '../gc/inventory.js';
import { mapLimit } from '../map-limit.js';
import { BACKUP_FORMAT, blobsNamed, closeSnapshot, selectRepositories, snapshotOf, type BackupManifest } from './snapshot.js';
import type { BackupSink } from './sink.js';

export type BackupPhase = 'blobs' | 'snapshot' | 'catch-up' | 'finish';

export interface CopyProgress {
  phase: BackupPhase;
  /** blobs looked at / to look at in this phase */
  done: number;
  total: number;
  copiedBlobs: number;
  copiedBytes: number;
}

export interface BackupOptions {
  source: StorageDriver;
  sink: BackupSink;
  /** called before each phase starts (tests race pushes against the phases) */
  onPhase?: (phase: BackupPhase) => Promise<void> | void;
  progress?: (p: CopyProgress) => void;
  now?: () => Date;
  /**
   * a migration's last catch-up into the bucket the registry now serves: nothing is removed there,
   * no backup.json is written, and tags pushed there since the switch stay
   */
  merge?: boolean;
}

export interface CopyReport {
  source: string;
  target: string;
  repositories: number;
  tags: number;
  blobs: number;
  /** blobs copied by this run (an incremental run copies only new ones) */
  copiedBlobs: number;
  copiedBytes: number;
  /** blobs the target had already */
  skippedBlobs: number;
  dropped: string[];
  /** tags the target had newer versions of (a merge) */
  keptTargetTags?: string[];
  takenAt: string;
  durationMs: number;
}

class Copier {
  readonly sizes = new Map<string, number>();
  /** blobs the source no longer has */
  readonly gone = new Set<string>();
  copiedBlobs = 0;
  copiedBytes = 0;
  skippedBlobs = 0;

  constructor(
    private readonly open: (digest: string) => Promise<{ size: number; body: () => Readable } | null>,
    private readonly sink: BackupSink,
    private readonly progress: ((p: CopyProgress) => void) | undefined,
  ) {}

  async copy(phase: BackupPhase, owners: Map<string, string>): Promise<void> {
    const todo = [...owners].filter(([d]) => !this.sizes.has(d) && !this.gone.has(d));
    let done = 0;
    let lastReport = 0;
    const report = (force = false) => {
      if (!this.progress || (!force && Date.now() - lastReport < 1000)) return;
      lastReport = Date.now();
      this.progress({ phase, done, total: todo.length, copiedBlobs: this.copiedBlobs, copiedBytes: this.copiedBytes });
    };
    report(true);
    await mapLimit(todo, this.sink.blobsInFlight, async ([digest, repo]) => {
      const found = await this.open(digest);
      if (!found) this.gone.add(digest);
      else if (await this.sink.has(digest, found.size)) {
        this.sizes.set(digest, found.size);
        this.skippedBlobs += 1;
      } else {
        try {
          await this.sink.putBlob(repo, digest, found.size, found.body());
        } catch (err) {
          // deleted between the stat and the read (gc): left out like any vanished blob
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          this.gone.add(digest);
          return;
        }
        this.sizes.set(digest, found.size);
        this.copiedBlobs += 1;
        this.copiedBytes += found.size;
      }
      done += 1;
      report();
    });
    report(true);
  }
}

function driverBlobs(driver: StorageDriver) {
  return async (digest: string) => {
    const info = await driver.stat(blobDataPath(digest));
    return info ? { size: info.size, body: () => driver.reader(blobDataPath(digest)) } : null;
  };
}

export async function runBackup(o: BackupOptions): Promise<{ report: CopyReport; manifest: BackupManifest }> {
  const now = o.now ?? (() => new Date());
  const started = now();
  const copier = new Copier(driverBlobs(o.source), o.sink, o.progress);

  await o.onPhase?.('blobs');
  await copier.copy('blobs', blobsNamed(snapshotOf(await scanRepositories(o.source), started)));

  await o.onPhase?.('snapshot');
  const snapshot = snapshotOf(await scanRepositories(o.source), now());

  await o.onPhase?.('catch-up');
  await copier.copy('catch-up', blobsNamed(snapshot));
  const refs = new Map<string, ManifestRefs>();
  const manifests = new Set(Object.values(snapshot.repositories).flatMap((r) => r.manifests));
  await mapLimit([...manifests].filter((d) => copier.sizes.has(d)), 16, async (d) => {
    const bytes = await o.source.getContent(blobDataPath(d));
    if (bytes) refs.set(d, manifestRefs(bytes));
  });
  // a blob a manifest needs that no repository links (never, unless the source is damaged)
  const unlinked = new Map<string, string>();
  for (const [name, repo] of Object.entries(snapshot.repositories)) {
    for (const d of repo.manifests) for (const b of refs.get(d)?.blobs ?? []) if (!copier.sizes.has(b)) unlinked.set(b, name);
  }
  await copier.copy('catch-up', unlinked);
  const closed = closeSnapshot(snapshot, (d) => copier.sizes.has(d), refs);

  await o.onPhase?.('finish');
  const blobs: Record<string, number> = {};
  for (const d of [...blobsNamed(closed.snapshot).keys()].sort()) blobs[d] = copier.sizes.get(d)!;
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    source: o.source.describe(),
    startedAt: started.toISOString(),
    finishedAt: now().toISOString(),
    ...closed.snapshot,
    blobs,
    dropped: closed.dropped,
  };
  const kept = await o.sink.finish(manifest, o.merge ? { backup: false, keepTargetTags: true } : { backup: true });
  const report = reportOf(manifest, copier, o.sink.describe(), started, now());
  return { report: o.merge ? { ...report, keptTargetTags: kept } : report, manifest };
}

export interface RestoreOptions {
  /** the backup's manifest file */
  manifest: BackupManifest;
  /** reads a blob of the backup */
  open: (digest: string) => Promise<{ size: number; body: () => Readable } | null>;
  source: string;
  sink: BackupSink;
  /** only these repositories */
  repositories?: readonly string[];
  progress?: (p: CopyProgress) => void;
  now?: () => Date;
}

/** Copies the (named repositories of the) backup into the sink: blobs verified by digest, then links and tags. */
export async function runRestore(o: RestoreOptions): Promise<{ report: CopyReport; manifest: BackupManifest }> {
  const now = o.now ?? (() => new Date());
  const started = now();
  const selected = selectRepositories(o.manifest, o.repositories);
  const owners = blobsNamed(selected);
  const copier = new Copier(o.open, o.sink, o.progress);
  await copier.copy('blobs', owners);
  const lost = [...copier.gone];
  if (lost.length > 0) throw new Error(`the backup lacks ${lost.length} blob(s) its manifest names (${lost.slice(0, 3).join(', ')}${lost.length > 3 ? ', …' : ''}): run backup --verify on it`);
  const manifest: BackupManifest = {
    ...o.manifest,
    ...selected,
    blobs: Object.fromEntries([...owners.keys()].sort().map((d) => [d, copier.sizes.get(d)!])),
    dropped: [],
  };
  await o.sink.finish(manifest, { backup: false });
  return { report: reportOf(manifest, copier, o.sink.describe(), started, now(), o.source), manifest };
}

function reportOf(m: BackupManifest, c: Copier, target: string, started: Date, ended: Date, source = m.source): CopyReport {
  const repos = Object.values(m.repositories);
  return {
    source,
    target,
    repositories: repos.length,
    tags: repos.reduce((n, r) => n + Object.keys(r.tags).length, 0),
    blobs: Object.keys(m.blobs).length,
    copiedBlobs: c.copiedBlobs,
    copiedBytes: c.copiedBytes,
    skippedBlobs: c.skippedBlobs,
    dropped: m.dropped,
    takenAt: m.takenAt,
    durationMs: ended.getTime() - started.getTime(),
  };
}
