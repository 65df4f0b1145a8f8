// Where a backup or restore writes: a storage driver (a data directory or a bucket, the same code
// for both), or a framed stream (stream.ts) that the other end of an SSH channel turns back into
// calls on a driver.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StorageDriver } from '../storage/driver.js';
import { BlobStore } from '../storage/blob-store.js';
import { ManifestStore } from '../storage/manifest-store.js';
import { blobDataPath, repoDir, revisionLinkPath } from '../storage/paths.js';
import { findRepositories } from '../gc/inventory.js';
import { mapLimit } from '../map-limit.js';
import { BACKUP_MANIFEST_PATH, type BackupManifest } from './snapshot.js';

export interface FinishOptions {
  /** a backup: remove what the snapshot no longer has (tags, repositories) and write backup.json */
  backup: boolean;
  /**
   * a migration's last catch-up into a bucket a registry already serves: a tag the target has is
   * newer than the source's (pushed after the switch) and stays
   */
  keepTargetTags?: boolean;
}

export interface BackupSink {
  describe(): string;
  /** blobs written at once (a stream writes one after the other: the order is its framing) */
  readonly blobsInFlight: number;
  /** The blob is there already with this size: an incremental run skips it. */
  has(digest: string, size: number): Promise<boolean>;
  /** Stores the blob under `repo`'s upload area; it becomes visible only once its digest is verified. */
  putBlob(repo: string, digest: string, size: number, body: Readable): Promise<void>;
  /**
   * Writes the links (blobs, manifests, then tags last) and, for a backup, backup.json. Resolves to
   * the tags left as the target had them (`repo:tag`, with keepTargetTags).
   */
  finish(manifest: BackupManifest, opts: FinishOptions): Promise<string[]>;
}

const LINKS_IN_FLIGHT = 16;

export class DriverSink implements BackupSink {
  /** each is a stream, a request per part when a bucket is involved */
  readonly blobsInFlight = 4;
  private readonly blobs: BlobStore;
  private readonly manifests: ManifestStore;

  constructor(readonly driver: StorageDriver) {
    this.blobs = new BlobStore(driver);
    this.manifests = new ManifestStore(driver, this.blobs);
  }

  describe(): string {
    return this.driver.describe();
  }

  async has(digest: string, size: number): Promise<boolean> {
    return (await this.blobs.size(digest)) === size;
  }

  async putBlob(repo: string, digest: string, size: number, body: Readable): Promise<void> {
    const sessions = this.driver.uploadSessions(this.blobs);
    const id = await sessions.create(repo);
    try {
      await sessions.appendAndCommit(repo, id, body, undefined, digest, size);
    } catch (err) {
      await sessions.cancel(repo, id).catch(() => false);
      throw err;
    }
  }

  /**
   * Upload sessions an interrupted earlier run left in a backup (nothing else writes there): the
   * bytes of a blob that was not finished, never counted as done.
   */
  async removeUnfinished(): Promise<number> {
    return this.driver.uploadSessions(this.blobs).purge(-60_000, await findRepositories(this.driver));
  }

  async finish(manifest: BackupManifest, opts: FinishOptions): Promise<string[]> {
    const kept: string[] = [];
    const repos = Object.entries(manifest.repositories);
    await mapLimit(repos, 4, async ([name, repo]) => {
      await mapLimit(repo.layers, LINKS_IN_FLIGHT, (d) => this.blobs.link(name, d));
      await mapLimit(repo.manifests, LINKS_IN_FLIGHT, (d) => this.driver.putContent(revisionLinkPath(name, d), d));
      if (opts.backup) {
        for (const tag of await this.manifests.tags(name)) if (!(tag in repo.tags)) await this.manifests.deleteTag(name, tag);
      }
      // tags last: a tag never names a manifest that is not there yet
      for (const [tag, d] of Object.entries(repo.tags)) {
        const now = opts.keepTargetTags ? await this.manifests.resolveTag(name, tag) : null;
        if (now !== null && now !== d) kept.push(`${name}:${tag}`);
        else if (now !== d) await this.manifests.tag(name, tag, d);
      }
    });
    if (!opts.backup) return kept.sort();
    for (const name of await this.manifests.repositories()) if (!(name in manifest.repositories)) await this.driver.delete(repoDir(name));
    await this.driver.putContent(BACKUP_MANIFEST_PATH, `${JSON.stringify(manifest, null, 1)}\n`);
    return kept;
  }

  /**
   * After a restore: every tag names its manifest, and every blob is there with its size (`kept`:
   * tags the target had newer versions of).
   */
  async check(manifest: BackupManifest, kept: readonly string[] = []): Promise<string[]> {
    const problems: string[] = [];
    for (const [name, repo] of Object.entries(manifest.repositories)) {
      for (const [tag, d] of Object.entries(repo.tags)) {
        if (kept.includes(`${name}:${tag}`)) continue;
        const now = await this.manifests.resolveTag(name, tag);
        if (now !== d) problems.push(`${name}:${tag} names ${now ?? 'nothing'}, the backup says ${d}`);
      }
    }
    await mapLimit(Object.entries(manifest.blobs), LINKS_IN_FLIGHT, async ([d, size]) => {
      const have = await this.blobs.size(d);
      if (have !== size) problems.push(`${d}: ${have === null ? 'missing' : `${have} bytes, the backup says ${size}`}`);
    });
    return problems;
  }
}

/** The manifest file of a backup in this store, or null when there is none. */
export async function readBackupManifest(driver: StorageDriver): Promise<BackupManifest | null> {
  const bytes = await driver.getContent(BACKUP_MANIFEST_PATH);
  if (!bytes) return null;
  const doc = JSON.parse(bytes.toString('utf8')) as BackupManifest;
  if (doc.format !== 'registry-setup-backup/1' || typeof doc.repositories !== 'object' || typeof doc.blobs !== 'object') {
    throw new Error(`${driver.describe()}: ${BACKUP_MANIFEST_PATH} is not a registry-setup backup manifest`);
  }
  return doc;
}

export interface VerifyReport {
  checked: number;
  bytes: number;
  /** blobs whose bytes are missing, of the wrong size, or do not hash to their digest */
  bad: { digest: string; problem: string }[];
}

/** Re-hashes every blob a backup's manifest names. */
export async function verifyBackup(driver: StorageDriver, manifest: BackupManifest, progress?: (done: number, total: number) => void): Promise<VerifyReport> {
  const entries = Object.entries(manifest.blobs);
  const report: VerifyReport = { checked: 0, bytes: 0, bad: [] };
  await mapLimit(entries, 4, async ([digest, size]) => {
    const info = await driver.stat(blobDataPath(digest));
    if (!info) report.bad.push({ digest, problem: 'missing' });
    else if (info.size !== size) report.bad.push({ digest, problem: `${info.size} bytes, expected ${size}` });
    else {
      const hash = createHash(digest.slice(0, digest.indexOf(':')));
      await pipeline(driver.reader(blobDataPath(digest)), hash);
      const actual = `${digest.slice(0, digest.indexOf(':'))}:${hash.digest('hex')}`;
      if (actual !== digest) report.bad.push({ digest, problem: `its bytes hash to ${actual}` });
      report.bytes += size;
    }
    report.checked += 1;
    progress?.(report.checked, entries.length);
  });
  report.bad.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  return report;
}
