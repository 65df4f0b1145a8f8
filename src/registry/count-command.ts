import { Command } from 'commander';
import { mapLimit } from './map-limit.js';
import { BlobStore } from './storage/blob-store.js';
import { ManifestStore } from './storage/manifest-store.js';
import { openStorageFromFlags, type StorageFlags } from './storage/open.js';

export interface ContentCount {
  repositories: number;
  tags: number;
}

/** Tag listings read at once: each is a folder listing, a request when the content is in a bucket. */
const TAG_LISTINGS_IN_FLIGHT = 16;

/** Repositories (folders holding `_manifests`, as the catalog counts them) and their tags. */
export async function countContent(flags: StorageFlags): Promise<ContentCount> {
  const driver = await openStorageFromFlags(flags);
  try {
    const manifests = new ManifestStore(driver, new BlobStore(driver));
    const repositories = await manifests.repositories();
    const tagCounts = await mapLimit(repositories, TAG_LISTINGS_IN_FLIGHT, async (name) => (await manifests.tags(name)).length);
    return { repositories: repositories.length, tags: tagCounts.reduce((a, b) => a + b, 0) };
  } finally {
    driver.close?.();
  }
}

/** `count`: what `registry-setup status` shows for a deployment whose content is in a bucket. */
export function countCommand(): Command {
  return new Command('count')
    .description('count repositories and tags; prints JSON ({"repositories": n, "tags": n})')
    .option('--data <dir>', 'data directory in registry:2 layout (default REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY or ./data)')
    .option('--storage <url>', 'count in a bucket: s3://bucket/prefix?endpoint=… (or REGISTRY_STORAGE_URL)')
    .option('--s3-credentials <file>', 'S3 credentials file (access_key_id / secret_access_key), or - for stdin')
    .action(async (flags: StorageFlags) => {
      process.stdout.write(`${JSON.stringify(await countContent(flags))}\n`);
    });
}
