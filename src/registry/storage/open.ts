import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type RegistryConfig } from '../config.js';
import type { StorageDriver } from './driver.js';
import { FilesystemDriver } from './filesystem.js';

/** The storage driver the settings ask for; the S3 code is loaded only when a bucket is used. */
export async function openStorage(config: Pick<RegistryConfig, 'dataDir' | 's3' | 's3CredentialsFile'>): Promise<StorageDriver> {
  if (!config.s3) return new FilesystemDriver(config.dataDir);
  // The SDK warns that its releases after January 2027 need Node 22; package.json pins a release
  // that supports Node 20, so the warning would only alarm the people reading the registry's log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const [{ S3Driver }, { readCredentialsFile }] = await Promise.all([import('./s3/driver.js'), import('./s3/settings.js')]);
  const credentials = config.s3CredentialsFile ? readCredentialsFile(config.s3CredentialsFile) : undefined;
  return new S3Driver(config.s3, credentials);
}

/** How the maintenance commands (gc, count) are told where the registry's content is. */
export interface StorageFlags {
  data?: string;
  /** s3://… (or REGISTRY_STORAGE_URL when no --data is given) */
  storage?: string;
  s3Credentials?: string;
}

/**
 * The driver for a maintenance command: flags first, then the variables the container's registry
 * runs with, then ./data. A data directory must exist (a typo must not look like an empty registry).
 */
export async function openStorageFromFlags(flags: StorageFlags, { writable = false }: { writable?: boolean } = {}): Promise<StorageDriver> {
  const storageUrl = flags.storage ?? (flags.data === undefined ? process.env.REGISTRY_STORAGE_URL : undefined);
  const s3 = storageUrl ? (await import('./s3/settings.js')).parseStorageUrl(storageUrl) : undefined;
  const dataDir = path.resolve(flags.data ?? process.env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY ?? './data');
  if (!s3) assertRegistryDataDir(dataDir);
  const driver = await openStorage({ dataDir, s3, s3CredentialsFile: flags.s3Credentials ?? process.env.REGISTRY_STORAGE_S3_CREDENTIALSFILE });
  await driver.check?.({ writable });
  return driver;
}

/**
 * An existing folder that is empty (a registry that has stored nothing yet) or holds the registry:2
 * tree. Anything else is most likely the wrong path, and gc must not start writing into it.
 */
function assertRegistryDataDir(dataDir: string): void {
  if (!existsSync(dataDir)) throw new ConfigError(`${dataDir}: no such data directory (set --data)`);
  if (existsSync(path.join(dataDir, 'docker/registry/v2'))) return;
  let entries: string[];
  try {
    entries = readdirSync(dataDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOTDIR' ? `${dataDir}: not a directory (set --data to the registry's data directory)` : `${dataDir}: cannot read it (${code})`);
  }
  if (entries.length > 0) {
    throw new ConfigError(`${dataDir}: holds other files but no registry data (no docker/registry/v2 in it); set --data to the registry's data directory`);
  }
}
