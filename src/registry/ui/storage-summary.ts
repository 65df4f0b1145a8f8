import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Registry } from '../registry.js';
import { mapLimit } from '../map-limit.js';
import type { DiskUsage, StorageSummary } from './api-types.js';

export type { DiskUsage, StorageSummary };

/** statfs of the data directory; before the first push it may not exist yet, so its parent counts. */
export async function diskUsage(dataDir: string): Promise<DiskUsage | null> {
  let dir = path.resolve(dataDir);
  for (;;) {
    try {
      const s = await fs.statfs(dir);
      return { path: dir, size: s.blocks * s.bsize, free: s.bfree * s.bsize, available: s.bavail * s.bsize };
    } catch (err) {
      const parent = path.dirname(dir);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === dir) return null;
      dir = parent;
    }
  }
}

/** Counts and sums `blobs/<algorithm>/<xx>/<hex>/data` through the storage driver. */
export async function blobUsage(registry: Registry): Promise<{ blobs: number; bytes: number }> {
  const { driver } = registry;
  let blobs = 0;
  let bytes = 0;
  for (const algorithm of await driver.list('blobs')) {
    const prefixes = await driver.list(`blobs/${algorithm}`);
    await mapLimit(prefixes, 8, async (prefix) => {
      for (const hex of await driver.list(`blobs/${algorithm}/${prefix}`)) {
        const info = await driver.stat(`blobs/${algorithm}/${prefix}/${hex}/data`);
        if (!info) continue;
        blobs++;
        bytes += info.size;
      }
    });
  }
  return { blobs, bytes };
}

export async function storageSummary(registry: Registry, repositories: string[]): Promise<StorageSummary> {
  const counts = await mapLimit(repositories, 16, async (name) => (await registry.manifests.tags(name)).length);
  // In a bucket there is no local filesystem whose free space would mean anything.
  const [usage, disk] = await Promise.all([blobUsage(registry), registry.config.s3 ? null : diskUsage(registry.config.dataDir)]);
  return {
    repositories: repositories.length,
    tags: counts.reduce((a, b) => a + b, 0),
    blobs: usage.blobs,
    blobBytes: usage.bytes,
    disk,
    computedAt: new Date().toISOString(),
  };
}
