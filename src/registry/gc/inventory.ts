import type { StorageDriver } from '../storage/driver.js';
import { isValidDigest, isValidTag } from '../names.js';
import {
  REPOSITORIES,
  UPLOADS,
  layerLinkPath,
  layersDir,
  revisionLinkPath,
  revisionsDir,
  tagCurrentLinkPath,
  tagsDir,
  uploadDataPath,
  uploadDir,
  uploadStartedAtPath,
  uploadsDir,
} from '../storage/paths.js';
import { mapLimit } from '../map-limit.js';

/** One repository as found on disk. Times are file modification times in ms since the epoch. */
export interface RepoInventory {
  name: string;
  /** Manifest digest → mtime of its revision link (only links whose content names the digest). */
  revisions: Map<string, number>;
  /** Tag → digest its `current` link names. */
  tags: Map<string, string>;
  /** Blob digest → mtime of its `_layers` link. */
  layers: Map<string, number>;
  /** Upload id → newest mtime of its data/startedat (the folder's when both are absent); '' → the `_uploads` folder's. */
  uploads: Map<string, number>;
}

export interface BlobInfo {
  size: number;
  mtime: number;
}

const ALGORITHMS = ['sha256', 'sha512'];
const HEX_RE = /^[a-f0-9]+$/;
const PREFIX_RE = /^[a-f0-9]{2}$/;
// Directories that make their parent a repository (distribution creates `_layers` and `_uploads`
// before the first manifest arrives, so a repository mid-first-push has no `_manifests` yet).
const MARKERS = ['_manifests', '_layers', UPLOADS];

/**
 * Every repository, nested names included. Like distribution's catalog walk, names starting with
 * `_` are never descended into; unlike it, a repository that only has `_layers`/`_uploads` counts,
 * because its links matter to garbage collection.
 */
export async function findRepositories(driver: StorageDriver): Promise<string[]> {
  const found: string[] = [];
  const walk = async (prefix: string): Promise<void> => {
    const entries = await driver.list(prefix ? `${REPOSITORIES}/${prefix}` : REPOSITORIES);
    if (prefix && entries.some((e) => MARKERS.includes(e))) found.push(prefix);
    for (const entry of entries.sort()) {
      if (entry.startsWith('_')) continue;
      await walk(prefix ? `${prefix}/${entry}` : entry);
    }
  };
  await walk('');
  return found.sort();
}

/** `<dir>/<algorithm>/<hex>` entries whose name makes a valid digest. */
async function digestEntries(driver: StorageDriver, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const algorithm of await driver.list(dir)) {
    if (!ALGORITHMS.includes(algorithm)) continue;
    for (const hex of await driver.list(`${dir}/${algorithm}`)) {
      const digest = `${algorithm}:${hex}`;
      if (isValidDigest(digest)) out.push(digest);
    }
  }
  return out;
}

async function mtime(driver: StorageDriver, path: string): Promise<number | null> {
  const info = await driver.stat(path);
  return info ? info.modTime.getTime() : null;
}

export async function scanRepository(driver: StorageDriver, name: string): Promise<RepoInventory> {
  const repo: RepoInventory = { name, revisions: new Map(), tags: new Map(), layers: new Map(), uploads: new Map() };
  await mapLimit(await digestEntries(driver, revisionsDir(name)), 16, async (digest) => {
    const path = revisionLinkPath(name, digest);
    const at = await mtime(driver, path);
    const content = at === null ? null : await driver.getContent(path);
    // The registry only honours a link that names its own digest; so does the collector.
    if (at !== null && content?.toString('utf8').trim() === digest) repo.revisions.set(digest, at);
  });
  for (const tag of (await driver.list(tagsDir(name))).filter(isValidTag)) {
    const current = (await driver.getContent(tagCurrentLinkPath(name, tag)))?.toString('utf8').trim();
    if (current && isValidDigest(current)) repo.tags.set(tag, current);
  }
  await mapLimit(await digestEntries(driver, layersDir(name)), 16, async (digest) => {
    const at = await mtime(driver, layerLinkPath(name, digest));
    if (at !== null) repo.layers.set(digest, at);
  });
  for (const id of await driver.list(uploadsDir(name))) {
    if (id.endsWith('.tmp')) continue;
    const times = await Promise.all([mtime(driver, uploadDataPath(name, id)), mtime(driver, uploadStartedAtPath(name, id))]);
    const known = times.filter((t): t is number => t !== null);
    const at = known.length > 0 ? Math.max(...known) : await mtime(driver, uploadDir(name, id));
    if (at !== null) repo.uploads.set(id, at);
  }
  // Our registry keeps a session in memory until its first bytes and touches this folder instead.
  const sessionsStarted = await mtime(driver, uploadsDir(name));
  if (sessionsStarted !== null) repo.uploads.set('', sessionsStarted);
  return repo;
}

export async function scanRepositories(driver: StorageDriver): Promise<RepoInventory[]> {
  const names = await findRepositories(driver);
  return mapLimit(names, 4, (name) => scanRepository(driver, name));
}

/** A temp file in a blob folder that has no `data`: a one-body upload whose process was killed. */
export interface StrayTemp {
  path: string;
  size: number;
  mtime: number;
}

/**
 * Every blob in `blobs/<algorithm>/<xx>/<hex>/data`, with size and mtime. Folders without `data`
 * are listed, and their `*.tmp` files added to `strays` (folders with data are not: no extra reads).
 */
export async function scanBlobs(driver: StorageDriver, strays: StrayTemp[] = []): Promise<Map<string, BlobInfo>> {
  const blobs = new Map<string, BlobInfo>();
  for (const algorithm of await driver.list('blobs')) {
    if (!ALGORITHMS.includes(algorithm)) continue;
    for (const prefix of (await driver.list(`blobs/${algorithm}`)).filter((p) => PREFIX_RE.test(p))) {
      const hexes = (await driver.list(`blobs/${algorithm}/${prefix}`)).filter((h) => HEX_RE.test(h) && h.startsWith(prefix));
      await mapLimit(hexes, 32, async (hex) => {
        const digest = `${algorithm}:${hex}`;
        if (!isValidDigest(digest)) return;
        const folder = `blobs/${algorithm}/${prefix}/${hex}`;
        const info = await driver.stat(`${folder}/data`);
        if (info) blobs.set(digest, { size: info.size, mtime: info.modTime.getTime() });
        else {
          for (const name of (await driver.list(folder)).filter((n) => n.endsWith('.tmp'))) {
            const temp = await driver.stat(`${folder}/${name}`);
            if (temp) strays.push({ path: `${folder}/${name}`, size: temp.size, mtime: temp.modTime.getTime() });
          }
        }
      });
    }
  }
  return blobs;
}
