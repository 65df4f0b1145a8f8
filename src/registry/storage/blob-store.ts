import type { Readable } from 'node:stream';
import type { StorageDriver } from './driver.js';
import { blobDataPath, layerLinkPath, revisionLinkPath } from './paths.js';

/** Global blob bytes plus the per-repository `_layers` links that make a blob visible in a repository. */
export class BlobStore {
  constructor(private readonly driver: StorageDriver) {}

  /** Size of the blob's bytes, or null when the store does not have them. */
  async size(digest: string): Promise<number | null> {
    const info = await this.driver.stat(blobDataPath(digest));
    return info ? info.size : null;
  }

  /**
   * Size of a blob as seen from a repository: it must be linked there. Manifests are reachable
   * through the blobs endpoint too (as in distribution), via their revision link.
   */
  async sizeInRepo(name: string, digest: string): Promise<number | null> {
    if (!(await this.isLinked(name, digest))) return null;
    return this.size(digest);
  }

  async isLinked(name: string, digest: string): Promise<boolean> {
    const link = await this.driver.getContent(layerLinkPath(name, digest));
    if (link && link.toString('utf8').trim() === digest) return true;
    const rev = await this.driver.getContent(revisionLinkPath(name, digest));
    return rev !== null && rev.toString('utf8').trim() === digest;
  }

  async link(name: string, digest: string): Promise<void> {
    await this.driver.putContent(layerLinkPath(name, digest), digest);
  }

  /** Removes the repository's link only; the bytes go away in garbage collection. */
  async unlink(name: string, digest: string): Promise<boolean> {
    const path = layerLinkPath(name, digest);
    if (!(await this.driver.getContent(path))) return false;
    await this.driver.delete(path.slice(0, -'/link'.length));
    return true;
  }

  reader(digest: string, range?: { start: number; end: number }): Readable {
    return this.driver.reader(blobDataPath(digest), range);
  }

  redirectUrl(digest: string): Promise<string | null> {
    return this.driver.redirectUrl?.(blobDataPath(digest)) ?? Promise.resolve(null);
  }

  openForSend(digest: string) {
    return this.driver.openForSend(blobDataPath(digest));
  }

  async read(digest: string): Promise<Buffer | null> {
    return this.driver.getContent(blobDataPath(digest));
  }

  /** Stores small content (manifests) under its digest; identical bytes make this idempotent. */
  async putSmall(digest: string, data: Buffer): Promise<void> {
    if ((await this.size(digest)) === data.length) return;
    await this.driver.putContent(blobDataPath(digest), data);
  }
}
