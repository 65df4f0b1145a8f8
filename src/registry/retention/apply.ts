import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageDriver } from '../storage/driver.js';
import { blobDataPath, revisionLinkPath, revisionsDir, tagCurrentLinkPath, tagIndexLinkPath, tagsDir } from '../storage/paths.js';
import { findRepositories, scanRepository } from '../gc/inventory.js';
import { manifestRefs, NO_REFS, type ManifestRefs } from '../gc/references.js';
import { removeEmptyDir } from '../gc/trash.js';
import { DEFAULT_SETTLE_MS } from '../gc/collect.js';
import { keptTags, policyFor, type RetentionRules, type TagFacts } from './policy.js';
import { readPulls } from './pulls.js';

const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const TRASH = '_retention/trash';

export interface RemovedTag {
  repository: string;
  tag: string;
  digest: string;
  pushedAt: string;
  /** manifest, config and layers, each once (shared layers may stay for other images) */
  size: number;
}

export interface RetentionReport {
  dryRun: boolean;
  /** Where "pushed at" comes from: the tag link's modification time (also for distribution's data). */
  pushedAtSource: 'tag link mtime';
  removedTags: RemovedTag[];
  removedManifests: { repository: string; digest: string }[];
  /** Tags and manifests left in place because a client wrote them while the run went on. */
  keptForRacingPush: number;
  durationMs: number;
}

export interface RetentionOptions {
  driver: StorageDriver;
  rules: RetentionRules;
  dryRun?: boolean;
  now?: number;
  /** Between moving links aside and the re-check of the repositories (default 2 s, as gc). */
  settleMs?: number;
  log?: (line: string) => void;
}

interface Aside {
  path: string;
  mtime: number;
}

/**
 * Applies the rules: removes the tags no rule keeps, then (deleteUntagged) the manifests no kept
 * tag reaches, through an index (its children) or as a referrer of a reached manifest, and that
 * are older than `delay`; `deleteReferrers` also removes referrers whose subject is gone. Blobs are
 * left to the gc that runs next. Links are moved aside first; after `settleMs` each repository is
 * scanned again, and in one that a client wrote to meanwhile everything moved aside goes back, so
 * a push racing the run is never lost (the next run decides again).
 */
export async function applyRetention(opts: RetentionOptions): Promise<RetentionReport> {
  const started = Date.now();
  const now = opts.now ?? started;
  const { driver, rules } = opts;
  const log = opts.log ?? (() => {});
  const report: RetentionReport = { dryRun: Boolean(opts.dryRun), pushedAtSource: 'tag link mtime', removedTags: [], removedManifests: [], keptForRacingPush: 0, durationMs: 0 };
  const pulls = await readPulls(driver);
  const refsCache = new Map<string, ManifestRefs>();
  const refs = async (digest: string): Promise<ManifestRefs> => {
    const cached = refsCache.get(digest);
    if (cached) return cached;
    const info = await driver.stat(blobDataPath(digest));
    const bytes = info && info.size <= MAX_MANIFEST_BYTES ? await driver.getContent(blobDataPath(digest)) : null;
    const r = bytes ? manifestRefs(bytes) : NO_REFS;
    refsCache.set(digest, r);
    return r;
  };
  const sizeOf = async (digest: string): Promise<number> => {
    const r = await refs(digest);
    let total = (await driver.stat(blobDataPath(digest)))?.size ?? 0;
    for (const b of r.blobs) total += (await driver.stat(blobDataPath(b)))?.size ?? 0;
    for (const c of r.children) total += await sizeOf(c);
    return total;
  };

  const runId = `${new Date(started).toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const trash = `${TRASH}/${runId}`;
  const moved = new Map<string, Aside[]>(); // repository → what went aside
  const scannedAt = new Map<string, number>();

  for (const repository of await findRepositories(driver)) {
    const policy = policyFor(rules, repository);
    if (!policy) continue; // repositories no policy names are untouched
    scannedAt.set(repository, Date.now());
    const inv = await scanRepository(driver, repository);
    const facts: TagFacts[] = [];
    const tagMtime = new Map<string, number>();
    for (const [tag, digest] of inv.tags) {
      const info = await driver.stat(tagCurrentLinkPath(repository, tag));
      if (!info) continue;
      tagMtime.set(tag, info.modTime.getTime());
      const pulled = Math.max(pulls.get(`${repository}:${tag}`) ?? 0, pulls.get(`${repository}@${digest}`) ?? 0);
      facts.push({ tag, digest, pushedAt: info.modTime.getTime(), ...(pulled > 0 ? { pulledAt: pulled } : {}) });
    }
    const kept = keptTags(policy, facts, now);
    const doomedTags = facts.filter((t) => !kept.has(t.tag));

    // What stays reachable: kept tags, manifests younger than the delay, their children and referrers.
    const doomedRevisions: string[] = [];
    if (policy.deleteUntagged || policy.deleteReferrers) {
      const reached = new Set<string>();
      const queue = [...facts.filter((t) => kept.has(t.tag)).map((t) => t.digest), ...[...inv.revisions].filter(([, m]) => m >= now - rules.delayMs).map(([d]) => d)];
      const referrersOf = new Map<string, string[]>();
      for (const d of inv.revisions.keys()) {
        const s = (await refs(d)).subject;
        if (s) referrersOf.set(s, [...(referrersOf.get(s) ?? []), d]);
      }
      while (queue.length > 0) {
        const d = queue.pop()!;
        if (reached.has(d)) continue;
        reached.add(d);
        queue.push(...(await refs(d)).children, ...(referrersOf.get(d) ?? []));
      }
      for (const [d, mtime] of inv.revisions) {
        if (reached.has(d) || mtime >= now - rules.delayMs) continue;
        const subject = (await refs(d)).subject;
        const orphanReferrer = subject !== undefined && !inv.revisions.has(subject);
        if (policy.deleteUntagged || (policy.deleteReferrers && orphanReferrer)) doomedRevisions.push(d);
      }
    }

    for (const t of doomedTags) {
      report.removedTags.push({ repository, tag: t.tag, digest: t.digest, pushedAt: new Date(t.pushedAt).toISOString(), size: await sizeOf(t.digest) });
    }
    for (const d of doomedRevisions) report.removedManifests.push({ repository, digest: d });
    if (opts.dryRun) continue;

    const aside: Aside[] = [];
    moved.set(repository, aside);
    for (const t of doomedTags) {
      const link = tagCurrentLinkPath(repository, t.tag);
      const got = await moveAside(driver, link, `${trash}/${link}`);
      if (!got) continue;
      aside.push({ path: link, mtime: got });
      if (got !== tagMtime.get(t.tag)) continue; // rewritten since the scan: the re-check puts it back
      // every digest the tag ever named (distribution keeps them all), so that its folder empties
      const indexDir = `${tagsDir(repository)}/${t.tag}/index`;
      for (const algorithm of await driver.list(indexDir)) {
        for (const hex of await driver.list(`${indexDir}/${algorithm}`)) {
          const index = tagIndexLinkPath(repository, t.tag, `${algorithm}:${hex}`);
          const gotIndex = await moveAside(driver, index, `${trash}/${index}`);
          if (gotIndex) aside.push({ path: index, mtime: 0 }); // its mtime says nothing about this push
        }
      }
    }
    for (const d of doomedRevisions) {
      const link = revisionLinkPath(repository, d);
      const got = await moveAside(driver, link, `${trash}/${link}`);
      if (got) aside.push({ path: link, mtime: got });
    }
  }
  if (opts.dryRun) {
    report.durationMs = Date.now() - started;
    return report;
  }

  await sleep(opts.settleMs ?? DEFAULT_SETTLE_MS);
  for (const [repository, aside] of moved) {
    if (aside.length === 0) continue;
    const since = scannedAt.get(repository)!;
    const again = await scanRepository(driver, repository);
    let written = [...again.revisions.values()].some((m) => m >= since);
    for (const tag of again.tags.keys()) {
      const info = await driver.stat(tagCurrentLinkPath(repository, tag));
      if (info && info.modTime.getTime() >= since) written = true;
    }
    if (written || aside.some((a) => a.mtime >= since)) {
      log(`retention: ${repository} was written to during the run; its ${aside.length} link(s) go back, the next run decides again`);
      for (const a of aside) await putBack(driver, `${trash}/${a.path}`, a.path);
      report.keptForRacingPush += aside.length;
      report.removedTags = report.removedTags.filter((t) => t.repository !== repository);
      report.removedManifests = report.removedManifests.filter((m) => m.repository !== repository);
      continue;
    }
    // index links before the current link, so each tag folder is empty when its turn comes
    for (const a of [...aside].reverse()) await removeEmptyParents(driver, a.path, repository);
  }
  await driver.delete(trash);
  report.durationMs = Date.now() - started;
  return report;
}

/** Atomic rename aside; the moved file's mtime, or null when it was already gone. */
async function moveAside(driver: StorageDriver, from: string, to: string): Promise<number | null> {
  try {
    const info = await driver.move(from, to);
    return info?.modTime.getTime() ?? Date.now();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/** Back where it was, unless a client wrote that path again meanwhile (theirs is newer). */
async function putBack(driver: StorageDriver, from: string, to: string): Promise<void> {
  if (await driver.stat(to)) await driver.delete(from);
  else await driver.move(from, to);
}

/** rmdir (never recursive) from the link's folder up to the tag or revision folder, so a racing write survives. */
async function removeEmptyParents(driver: StorageDriver, linkPath: string, repository: string): Promise<void> {
  const stops = [tagsDir(repository), revisionsDir(repository)];
  let dir = linkPath.slice(0, linkPath.lastIndexOf('/'));
  while (!stops.some((s) => dir === s) && dir.includes('/_manifests/')) {
    await removeEmptyDir(driver, dir);
    dir = dir.slice(0, dir.lastIndexOf('/'));
  }
}
