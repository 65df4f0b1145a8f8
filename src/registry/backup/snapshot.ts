// What a backup holds besides blob bytes: a point-in-time copy of every repository's tags,
// manifests (revision links) and blob links, closed so that everything it names is in the backup.
import type { ManifestRefs } from '../gc/references.js';
import type { RepoInventory } from '../gc/inventory.js';

/** The name `backup.json` carries, so that restore recognises what it reads. */
export const BACKUP_FORMAT = 'registry-setup-backup/1';
/** Where the manifest file lives, relative to the storage root (beside `blobs/` and `repositories/`). */
export const BACKUP_MANIFEST_PATH = 'backup.json';

export interface RepoSnapshot {
  /** tag → manifest digest */
  tags: Record<string, string>;
  /** manifest digests (revision links) */
  manifests: string[];
  /** blob digests linked into the repository (`_layers`) */
  layers: string[];
}

export interface BackupSnapshot {
  /** when the point-in-time read of tags and manifests started */
  takenAt: string;
  repositories: Record<string, RepoSnapshot>;
}

/** `backup.json`: the snapshot, the blobs it needs with their sizes, and what was left out. */
export interface BackupManifest extends BackupSnapshot {
  format: typeof BACKUP_FORMAT;
  source: string;
  startedAt: string;
  finishedAt: string;
  /** digest → size of every blob (manifests included) the snapshot needs */
  blobs: Record<string, number>;
  /** what the source lost between the two reads (a delete or gc raced the backup): `repo@digest` or `repo:tag` */
  dropped: string[];
}

/** The snapshot of repositories as scanned (tags, revisions, layer links). */
export function snapshotOf(repos: readonly RepoInventory[], takenAt: Date): BackupSnapshot {
  const repositories: Record<string, RepoSnapshot> = {};
  for (const r of repos) {
    if (r.revisions.size === 0 && r.tags.size === 0) continue; // only uploads or links: nothing to pull
    repositories[r.name] = {
      tags: Object.fromEntries([...r.tags].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      manifests: [...r.revisions.keys()].sort(),
      layers: [...r.layers.keys()].sort(),
    };
  }
  return { takenAt: takenAt.toISOString(), repositories };
}

/** Every blob a snapshot names (layers and manifests), with one repository that links it. */
export function blobsNamed(snapshot: BackupSnapshot): Map<string, string> {
  const owner = new Map<string, string>();
  for (const [name, repo] of Object.entries(snapshot.repositories)) {
    for (const d of [...repo.manifests, ...repo.layers]) if (!owner.has(d)) owner.set(d, name);
  }
  return owner;
}

/**
 * Makes the snapshot closed over what the backup holds: a manifest stays only when its bytes, its
 * blobs and its child manifests (kept in the same repository) are present; a tag only when its
 * manifest stays. Blobs a kept manifest needs are linked into its repository (a pull needs the
 * link). `refs` has the references of every manifest whose bytes are present.
 */
export function closeSnapshot(
  snapshot: BackupSnapshot,
  present: (digest: string) => boolean,
  refs: ReadonlyMap<string, ManifestRefs>,
): { snapshot: BackupSnapshot; dropped: string[] } {
  const dropped: string[] = [];
  const repositories: Record<string, RepoSnapshot> = {};
  for (const [name, repo] of Object.entries(snapshot.repositories)) {
    const kept = new Set(repo.manifests.filter((d) => present(d) && refs.has(d) && refs.get(d)!.blobs.every(present)));
    // an index is kept only when its children are: repeat until nothing more goes
    for (let changed = true; changed; ) {
      changed = false;
      for (const d of kept) {
        if (!refs.get(d)!.children.every((c) => kept.has(c))) {
          kept.delete(d);
          changed = true;
        }
      }
    }
    for (const d of repo.manifests) if (!kept.has(d)) dropped.push(`${name}@${d}`);
    const tags: Record<string, string> = {};
    for (const [tag, d] of Object.entries(repo.tags)) {
      if (kept.has(d)) tags[tag] = d;
      else dropped.push(`${name}:${tag}`);
    }
    const layers = new Set(repo.layers.filter(present));
    for (const d of kept) for (const b of refs.get(d)!.blobs) layers.add(b);
    if (kept.size === 0 && Object.keys(tags).length === 0) continue;
    repositories[name] = { tags, manifests: [...kept].sort(), layers: [...layers].sort() };
  }
  return { snapshot: { takenAt: snapshot.takenAt, repositories }, dropped };
}

/** The named repositories of a backup; an unknown name is an error naming the ones there are. */
export function selectRepositories(snapshot: BackupSnapshot, names: readonly string[] | undefined): BackupSnapshot {
  if (!names || names.length === 0) return snapshot;
  const missing = names.filter((n) => !(n in snapshot.repositories));
  if (missing.length > 0) {
    const have = Object.keys(snapshot.repositories);
    throw new RangeError(`the backup has no repository ${missing.join(', ')} (it has ${have.length ? have.slice(0, 10).join(', ') : 'none'}${have.length > 10 ? ', …' : ''})`);
  }
  return { takenAt: snapshot.takenAt, repositories: Object.fromEntries(names.map((n) => [n, snapshot.repositories[n]!])) };
}
