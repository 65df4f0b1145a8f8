import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageDriver } from '../storage/driver.js';
import { blobDataPath, layerLinkPath, revisionLinkPath } from '../storage/paths.js';
import { scanBlobs, scanRepositories, type RepoInventory, type StrayTemp } from './inventory.js';
import { planCollection, type Plan } from './plan.js';
import { manifestRefs, NO_REFS, type ManifestRefs } from './references.js';
import { acquireLock, recoverAbandoned, releaseLock, Trash, type TrashItem } from './trash.js';

export const DEFAULT_GRACE_MS = 3600_000;
/** Older than the registry's idle-connection limit (15 min) with room to spare. */
const STRAY_TEMP_AGE_MS = 30 * 60_000;

export const DEFAULT_SETTLE_MS = 2000;
/** Larger "manifests" are not manifests (distribution and we refuse more than 4 MiB); never read a layer into memory. */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export type GcPhase = 'scan' | 'plan' | 'trash' | 'settle' | 'recheck' | 'finalize';

export interface GcOptions {
  driver: StorageDriver;
  /** Report what would go without touching anything. */
  dryRun?: boolean;
  /** Only manifests reachable from a tag (and their children and referrers) are roots. */
  deleteUntagged?: boolean;
  /** Nothing modified more recently than this is deleted (default 1 h). */
  graceMs?: number;
  /** The time the grace window is measured from (default: when the run starts). */
  now?: number | Date;
  /**
   * How long moved-aside items wait before the re-check (default 2 s): longer than a manifest PUT
   * takes between checking its references and writing its revision link.
   */
  settleMs?: number;
  /** Forget mirrored repositories nobody pulled from for this long (their cached manifests stop being roots). */
  mirrorMaxIdleMs?: number;
  log?: (line: string) => void;
  /** Called (and awaited) as each phase starts; for tests that interleave pushes with a run. */
  onPhase?: (phase: GcPhase) => void | Promise<void>;
}

export interface GcReport {
  dryRun: boolean;
  deleteUntagged: boolean;
  graceMs: number;
  markedManifests: number;
  markedBlobs: number;
  deletedBlobs: { digest: string; size: number }[];
  deletedManifests: { repo: string; digest: string }[];
  /** `_layers` links removed (of deleted or missing blobs, or only needed by removed manifests). */
  removedLayerLinks: number;
  freedBytes: number;
  keptYoung: number;
  /** Items moved aside and put back because a client referred to them during the run. */
  restored: number;
  /** Files put back from a previous run that died half-way. */
  recovered: number;
  /** Partial upload files left in blob folders by a registry that was killed (removed, or would be). */
  removedTempFiles: number;
  durationMs: number;
}

/** Parsed references per manifest digest (content never changes), from the store or this run's trash. */
class RefsCache {
  private readonly cache = new Map<string, ManifestRefs>();
  trash?: Trash;

  constructor(private readonly driver: StorageDriver) {}

  get = async (digest: string): Promise<ManifestRefs> => {
    const cached = this.cache.get(digest);
    if (cached) return cached;
    const path = blobDataPath(digest);
    const info = await this.driver.stat(path);
    if (info && info.size > MAX_MANIFEST_BYTES) return NO_REFS;
    const bytes = (info ? await this.driver.getContent(path) : null) ?? (await this.trash?.read(path)) ?? null;
    if (!bytes) return NO_REFS; // not cached: it may appear later
    const refs = manifestRefs(bytes);
    this.cache.set(digest, refs);
    return refs;
  };
}

const key = (repo: string, digest: string) => `${repo}\n${digest}`;

/**
 * Garbage collection that is safe while the registry serves (the argument is in ./README.md):
 * mark from the roots, move unreferenced old items aside, wait, re-check everything clients wrote
 * since the scan, put back what they now need, and only then delete.
 */
export async function collectGarbage(opts: GcOptions): Promise<GcReport> {
  const started = Date.now();
  const { driver } = opts;
  const dryRun = Boolean(opts.dryRun);
  const deleteUntagged = Boolean(opts.deleteUntagged);
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const cutoff = (opts.now === undefined ? started : +opts.now) - graceMs;
  const log = opts.log ?? (() => {});
  const phase = async (p: GcPhase) => opts.onPhase?.(p);
  const runId = `${new Date(started).toISOString().replace(/[:.]/g, '')}-${randomBytes(4).toString('hex')}`;

  if (!dryRun) await acquireLock(driver, runId);
  try {
    const recovered = dryRun ? 0 : await recoverAbandoned(driver, runId);
    if (recovered > 0) log(`put back ${recovered} file(s) left aside by an interrupted garbage collection`);
    await phase('scan');
    // Repositories before blobs: a link is written after its blob, so a link seen here whose blob
    // the later walk does not find is really dangling.
    const repos = await scanRepositories(driver);
    const strays: StrayTemp[] = [];
    const blobs = await scanBlobs(driver, strays);
    log(`scanned ${repos.length} repositories and ${blobs.size} blobs`);
    // a live upload writes its temp file continuously, and the registry closes a connection idle
    // for 15 minutes: one untouched for longer than that (and the grace window) is left over
    const tempCutoff = Math.min(cutoff, (opts.now === undefined ? started : +opts.now) - STRAY_TEMP_AGE_MS);
    const oldTemps = strays.filter((t) => t.mtime < tempCutoff);
    await phase('plan');
    const refs = new RefsCache(driver);
    const plan = await planCollection(repos, blobs, refs.get, {
      deleteUntagged,
      cutoff,
      idleCutoff: opts.mirrorMaxIdleMs === undefined ? undefined : (opts.now === undefined ? started : +opts.now) - opts.mirrorMaxIdleMs,
    });
    const base = { dryRun, deleteUntagged, graceMs, markedManifests: plan.manifests.size, markedBlobs: plan.markedBlobs, keptYoung: plan.keptYoung, recovered, removedTempFiles: oldTemps.length };
    if (!dryRun) {
      for (const t of oldTemps) await driver.delete(t.path);
      if (oldTemps.length > 0) log(`removed ${oldTemps.length} partial upload file(s) a killed registry left in blob folders`);
    }
    if (dryRun) {
      const deletedBlobs = plan.deleteBlobs.map(({ digest, size }) => ({ digest, size }));
      return {
        ...base,
        deletedBlobs,
        deletedManifests: plan.deleteRevisions.map(({ repo, digest }) => ({ repo, digest })),
        removedLayerLinks: plan.deleteLayerLinks.length,
        freedBytes: deletedBlobs.reduce((n, b) => n + b.size, 0),
        restored: 0,
        durationMs: Date.now() - started,
      };
    }

    const trash = new Trash(driver, runId);
    refs.trash = trash;
    // Links before the blobs they name: the registry never sees a link to a missing blob.
    const items: TrashItem[] = [
      ...plan.deleteRevisions.map((l) => item('revision', l.repo, l.digest, revisionLinkPath(l.repo, l.digest), l.mtime, 0)),
      ...plan.deleteLayerLinks.map((l) => item('layer', l.repo, l.digest, layerLinkPath(l.repo, l.digest), l.mtime, 0)),
      ...plan.deleteBlobs.map((b) => item('blob', '', b.digest, blobDataPath(b.digest), b.mtime, b.size)),
    ];
    try {
      await phase('trash');
      for (const it of items) {
        await trash.put(it);
        // A client rewrote the link between the scan and the move: it is in use again.
        if (it.state === 'trashed' && it.kind !== 'blob' && (await trash.rewritten(it))) await trash.restore(it);
      }
      const aside = items.filter((i) => i.state === 'trashed').length;
      log(`moved ${aside} item(s) aside`);
      await phase('settle');
      if (aside > 0) await sleep(opts.settleMs ?? DEFAULT_SETTLE_MS);
      await phase('recheck');
      await recheck(driver, repos, plan, items, trash, refs.get);
      await phase('finalize');
      await trash.finish(items);
    } catch (err) {
      // Put everything back now rather than leave it invisible until the next run.
      await recoverAbandoned(driver, '').catch(() => undefined);
      throw err;
    }

    const deleted = (kind: TrashItem['kind']) => items.filter((i) => i.kind === kind && i.state === 'deleted');
    const deletedBlobs = deleted('blob').map(({ digest, size }) => ({ digest, size }));
    const report: GcReport = {
      ...base,
      deletedBlobs,
      deletedManifests: deleted('revision').map(({ repo, digest }) => ({ repo, digest })),
      removedLayerLinks: deleted('layer').length,
      freedBytes: deletedBlobs.reduce((n, b) => n + b.size, 0),
      restored: items.filter((i) => i.state === 'restored').length,
      durationMs: Date.now() - started,
    };
    if (report.restored > 0) log(`put back ${report.restored} item(s) that clients referred to during the run`);
    return report;
  } finally {
    if (!dryRun) await releaseLock(driver, runId);
  }
}

function item(kind: TrashItem['kind'], repo: string, digest: string, path: string, mtime: number, size: number): TrashItem {
  return { kind, repo, digest, path, mtime, size, state: 'pending' };
}

/**
 * The second look. Everything clients wrote after the scan — revision links and tags (a manifest
 * PUT rewrites its revision link even when the manifest existed), `_layers` links (an upload or
 * mount rewrites the link even when the blob existed) and upload sessions — is compared with the
 * first scan, and whatever the new writes need is put back before anything is deleted.
 */
async function recheck(
  driver: StorageDriver,
  before: RepoInventory[],
  plan: Plan,
  items: TrashItem[],
  trash: Trash,
  refsOf: (digest: string) => Promise<ManifestRefs>,
): Promise<void> {
  const prev = new Map(before.map((r) => [r.name, r]));
  const needed = new Set<string>(); // digests whose blob must exist
  const neededIn = new Set<string>(); // repo+digest whose link must exist
  const active = new Set(plan.activeRepos);
  const reach = async (repo: string, roots: string[]) => {
    const stack = [...roots];
    while (stack.length > 0) {
      const digest = stack.pop()!;
      if (neededIn.has(key(repo, digest))) continue;
      neededIn.add(key(repo, digest));
      needed.add(digest);
      const refs = await refsOf(digest);
      for (const b of refs.blobs) {
        needed.add(b);
        neededIn.add(key(repo, b));
      }
      stack.push(...refs.children);
    }
  };
  for (const repo of await scanRepositories(driver)) {
    const p = prev.get(repo.name);
    const fresh: string[] = [];
    for (const [digest, mtime] of repo.revisions) if (p?.revisions.get(digest) !== mtime) fresh.push(digest);
    for (const [tag, digest] of repo.tags) if (p?.tags.get(tag) !== digest) fresh.push(digest);
    await reach(repo.name, fresh);
    for (const [digest, mtime] of repo.layers) if (p?.layers.get(digest) !== mtime) needed.add(digest);
    if ([...repo.uploads].some(([id, mtime]) => p?.uploads.get(id) !== mtime)) active.add(repo.name);
  }

  const trashed = items.filter((i) => i.state === 'trashed');
  const rewritten = new Set<TrashItem>();
  for (const it of trashed) if (it.kind !== 'blob' && (await trash.rewritten(it))) rewritten.add(it);
  // Putting a revision back makes its manifest's needs needed too: iterate to a fixed point.
  const keep = new Set<TrashItem>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const it of trashed) {
      if (keep.has(it)) continue;
      let wanted =
        it.kind === 'blob'
          ? needed.has(it.digest)
          : rewritten.has(it) || neededIn.has(key(it.repo, it.digest)) || (it.kind === 'layer' && active.has(it.repo));
      if (!wanted && it.kind === 'revision') {
        // A referrer whose subject became needed during the run (tagged meanwhile) is needed too.
        const subject = (await refsOf(it.digest)).subject;
        wanted = subject !== undefined && neededIn.has(key(it.repo, subject));
      }
      if (!wanted) continue;
      keep.add(it);
      changed = true;
      if (it.kind === 'revision') await reach(it.repo, [it.digest]);
      else needed.add(it.digest);
    }
  }
  // Blobs first; a link goes back only if its blob is there, so no link ever names a missing blob.
  for (const kind of ['blob', 'revision', 'layer'] as const) {
    for (const it of trashed) {
      if (it.kind !== kind || !keep.has(it)) continue;
      if (kind !== 'blob' && !(await driver.stat(blobDataPath(it.digest)))) continue;
      await trash.restore(it);
    }
  }
}
