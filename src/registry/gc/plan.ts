import type { BlobInfo, RepoInventory } from './inventory.js';
import type { ManifestRefs } from './references.js';

/** A link in one repository: a revision link or a `_layers` link, with the mtime seen when scanned. */
export interface RepoLink {
  repo: string;
  digest: string;
  mtime: number;
}

export interface PlannedBlob {
  digest: string;
  size: number;
  mtime: number;
}

/** The mark phase's verdict: what is in use and what may go. */
export interface Plan {
  /** Every digest something in use needs (manifests and blobs), whether or not it exists. */
  marked: Set<string>;
  /** Manifests that are roots or reachable from one. */
  manifests: Set<string>;
  /** Blobs in the store that are marked. */
  markedBlobs: number;
  /** Revision links to remove: untagged (with deleteUntagged) or naming a missing manifest. */
  deleteRevisions: RepoLink[];
  /** `_layers` links to remove: of deleted blobs, of missing blobs, or (deleteUntagged) only needed by removed manifests. */
  deleteLayerLinks: RepoLink[];
  deleteBlobs: PlannedBlob[];
  /** Unreferenced blobs and untagged manifests spared because they are younger than the grace window. */
  keptYoung: number;
  /** Repositories with an upload written within the grace window: a push is under way there. */
  activeRepos: Set<string>;
}

export interface PlanOptions {
  deleteUntagged: boolean;
  /** Anything modified at or after this time (ms) is young and never deleted. */
  cutoff: number;
  /**
   * A mirrored repository last pulled before this time (ms) is idle: none of its manifests is a
   * root, so what only it holds goes like any unreferenced content (the upstream still has it).
   */
  idleCutoff?: number;
}

export type RefsLoader = (digest: string) => Promise<ManifestRefs>;

const key = (repo: string, digest: string) => `${repo}\n${digest}`;

/**
 * Mark. Roots are every revision (default) or, with deleteUntagged, the tags' current manifests
 * plus revisions younger than the grace window. From a root: the manifest, its config and layers,
 * an index's children (recursively) and, with deleteUntagged, the referrers of every reachable
 * manifest (manifests of the repository whose `subject` is reachable, recursively).
 */
export async function planCollection(
  repos: RepoInventory[],
  blobs: Map<string, BlobInfo>,
  refsOf: RefsLoader,
  opts: PlanOptions,
): Promise<Plan> {
  const plan: Plan = {
    marked: new Set(),
    manifests: new Set(),
    markedBlobs: 0,
    deleteRevisions: [],
    deleteLayerLinks: [],
    deleteBlobs: [],
    keptYoung: 0,
    activeRepos: new Set(),
  };
  const links = new Map<string, RepoLink>();
  const removeLink = (repo: string, digest: string, mtime: number) => links.set(key(repo, digest), { repo, digest, mtime });
  const young = (mtime: number) => mtime >= opts.cutoff;

  for (const repo of repos) {
    if ([...repo.uploads.values()].some(young)) plan.activeRepos.add(repo.name);
    const reached = new Set<string>();
    const neededHere = new Set<string>();
    const referrers = new Map<string, string[]>();
    if (opts.deleteUntagged) {
      for (const digest of repo.revisions.keys()) {
        const subject = (await refsOf(digest)).subject;
        if (!subject) continue;
        const list = referrers.get(subject);
        if (list) list.push(digest);
        else referrers.set(subject, [digest]);
      }
    }
    const reach = async (roots: Iterable<string>) => {
      const stack = [...roots];
      while (stack.length > 0) {
        const digest = stack.pop()!;
        if (reached.has(digest)) continue;
        reached.add(digest);
        plan.marked.add(digest);
        plan.manifests.add(digest);
        const refs = await refsOf(digest);
        for (const b of refs.blobs) {
          plan.marked.add(b);
          neededHere.add(b);
        }
        stack.push(...refs.children, ...(referrers.get(digest) ?? []));
      }
    };
    const idle = opts.idleCutoff !== undefined && repo.lastPull !== undefined && repo.lastPull < opts.idleCutoff;
    if (idle) {
      // no roots: its revisions (older than the grace window) and the links only they needed go
    } else if (!opts.deleteUntagged) {
      await reach(repo.revisions.keys());
    } else {
      await reach(repo.tags.values());
      const spared = [...repo.revisions].filter(([d, t]) => young(t) && !reached.has(d)).map(([d]) => d);
      plan.keptYoung += spared.length;
      await reach(spared);
    }

    const removed: string[] = [];
    for (const [digest, mtime] of repo.revisions) {
      if (young(mtime)) continue;
      const dangling = !blobs.has(digest);
      if (dangling || !reached.has(digest)) {
        plan.deleteRevisions.push({ repo: repo.name, digest, mtime });
        if (!dangling) removed.push(digest);
      }
    }
    // Links only the removed manifests needed, unless a push is under way in this repository.
    if (!plan.activeRepos.has(repo.name)) {
      for (const digest of removed) {
        for (const b of (await refsOf(digest)).blobs) {
          const mtime = repo.layers.get(b);
          if (mtime !== undefined && !young(mtime) && !neededHere.has(b)) removeLink(repo.name, b, mtime);
        }
      }
    }
  }

  const linkedFrom = new Map<string, { repo: string; mtime: number }[]>();
  for (const repo of repos) {
    for (const [digest, mtime] of repo.layers) {
      const list = linkedFrom.get(digest);
      if (list) list.push({ repo: repo.name, mtime });
      else linkedFrom.set(digest, [{ repo: repo.name, mtime }]);
      // A link to a blob the store does not have makes HEAD and GET disagree with the catalog.
      if (!blobs.has(digest) && !young(mtime)) removeLink(repo.name, digest, mtime);
    }
  }
  for (const [digest, info] of blobs) {
    if (plan.marked.has(digest)) {
      plan.markedBlobs++;
      continue;
    }
    const linked = linkedFrom.get(digest) ?? [];
    // Young data, a young link (uploaded or mounted lately) or a push under way in a repository
    // that links it: a manifest may be about to refer to it.
    if (young(info.mtime) || linked.some((l) => young(l.mtime) || plan.activeRepos.has(l.repo))) {
      plan.keptYoung++;
      continue;
    }
    plan.deleteBlobs.push({ digest, size: info.size, mtime: info.mtime });
    for (const l of linked) removeLink(l.repo, digest, l.mtime);
  }

  const byRepoDigest = (a: RepoLink, b: RepoLink) => (a.repo === b.repo ? cmp(a.digest, b.digest) : cmp(a.repo, b.repo));
  plan.deleteRevisions.sort(byRepoDigest);
  plan.deleteLayerLinks = [...links.values()].sort(byRepoDigest);
  plan.deleteBlobs.sort((a, b) => cmp(a.digest, b.digest));
  return plan;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
