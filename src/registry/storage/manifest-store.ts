import type { StorageDriver } from './driver.js';
import type { BlobStore } from './blob-store.js';
import { isValidTag } from '../names.js';
import {
  REPOSITORIES,
  UPLOADS,
  repoDir,
  revisionLinkPath,
  revisionsDir,
  tagCurrentLinkPath,
  tagIndexLinkPath,
  tagsDir,
} from './paths.js';

const HEX_RE = /^[a-f0-9]+$/;

/** Manifests (bytes in the blob store, a revision link per repository) and tags, as distribution keeps them. */
export class ManifestStore {
  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
  ) {}

  private async readLink(path: string): Promise<string | null> {
    const content = await this.driver.getContent(path);
    return content ? content.toString('utf8').trim() : null;
  }

  async resolveTag(name: string, tag: string): Promise<string | null> {
    return this.readLink(tagCurrentLinkPath(name, tag));
  }

  async has(name: string, digest: string): Promise<boolean> {
    return (await this.readLink(revisionLinkPath(name, digest))) === digest && (await this.blobs.size(digest)) !== null;
  }

  async get(name: string, digest: string): Promise<Buffer | null> {
    if ((await this.readLink(revisionLinkPath(name, digest))) !== digest) return null;
    return this.blobs.read(digest);
  }

  async put(name: string, digest: string, bytes: Buffer, tag?: string): Promise<void> {
    await this.blobs.putSmall(digest, bytes);
    await this.driver.putContent(revisionLinkPath(name, digest), digest);
    if (tag) await this.tag(name, tag, digest);
  }

  async tag(name: string, tag: string, digest: string): Promise<void> {
    await this.driver.putContent(tagIndexLinkPath(name, tag, digest), digest);
    await this.driver.putContent(tagCurrentLinkPath(name, tag), digest);
  }

  /** Removes the revision and every tag currently pointing at it, like distribution. */
  async delete(name: string, digest: string): Promise<boolean> {
    if ((await this.readLink(revisionLinkPath(name, digest))) !== digest) return false;
    for (const tag of await this.tags(name)) {
      if ((await this.resolveTag(name, tag)) === digest) await this.driver.delete(`${tagsDir(name)}/${tag}`);
    }
    await this.driver.delete(revisionLinkPath(name, digest).slice(0, -'/link'.length));
    return true;
  }

  async deleteTag(name: string, tag: string): Promise<boolean> {
    if ((await this.resolveTag(name, tag)) === null) return false;
    await this.driver.delete(`${tagsDir(name)}/${tag}`);
    return true;
  }

  /** Tag names in lexical (byte) order. */
  async tags(name: string): Promise<string[]> {
    const names = (await this.driver.list(tagsDir(name))).filter(isValidTag);
    return names.sort(compareBytes);
  }

  async repositoryExists(name: string): Promise<boolean> {
    return (await this.driver.list(repoDir(name))).includes('_manifests');
  }

  /** Every manifest digest with a revision link in the repository. */
  async revisions(name: string): Promise<string[]> {
    const out: string[] = [];
    for (const algorithm of await this.driver.list(revisionsDir(name))) {
      for (const hex of await this.driver.list(`${revisionsDir(name)}/${algorithm}`)) {
        if (HEX_RE.test(hex)) out.push(`${algorithm}:${hex}`);
      }
    }
    return out;
  }

  /**
   * Repository names in byte order. A directory holding `_manifests` is a repository; names
   * starting with `_` are never part of one (distribution's catalog walk).
   */
  async repositories(): Promise<string[]> {
    return this.findRepositories('_manifests');
  }

  /** Repositories with upload sessions, including ones that have no manifest yet. */
  async repositoriesWithUploads(): Promise<string[]> {
    return this.findRepositories(UPLOADS);
  }

  private async findRepositories(marker: string): Promise<string[]> {
    const found: string[] = [];
    const walk = async (prefix: string): Promise<void> => {
      const entries = await this.driver.list(prefix ? `${REPOSITORIES}/${prefix}` : REPOSITORIES);
      if (prefix && entries.includes(marker)) found.push(prefix);
      for (const entry of entries) {
        if (entry.startsWith('_')) continue;
        await walk(prefix ? `${prefix}/${entry}` : entry);
      }
    };
    await walk('');
    return found.sort(compareBytes);
  }
}

export function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
