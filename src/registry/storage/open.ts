import path from 'node:path';
import type { RegistryConfig } from '../config.js';
import type { StorageDriver } from './driver.js';
import { REGISTRY_ENV } from '../../host/contract.js';

/** The settings that say where the registry's content is. */
export type StorageConfig = Pick<RegistryConfig, 'dataDir' | 's3' | 's3CredentialsFile'>;

export interface OpenOptions {
  /** A maintenance command: the store must exist already (a typo must not look like an empty registry). */
  existing?: boolean;
}

interface DriverRegistration {
  scheme: string;
  /** Opens the driver when the settings name its kind of store, else resolves undefined. */
  open(config: StorageConfig, opts: OpenOptions): Promise<StorageDriver> | undefined;
}

/** A driver's line in DRIVERS: where its settings are, and its module (loaded only when used). */
function driver<S>(
  scheme: string,
  settingsIn: (config: StorageConfig) => S | undefined,
  load: () => Promise<{ openDriver(settings: S, config: StorageConfig, opts: OpenOptions): StorageDriver }>,
): DriverRegistration {
  return {
    scheme,
    open(config, opts) {
      const settings = settingsIn(config);
      return settings === undefined ? undefined : load().then((m) => m.openDriver(settings, config, opts));
    },
  };
}

/**
 * The storage drivers by URL scheme, as distribution's driver factory registers them: a new one
 * (GCS, Azure) is a folder beside filesystem/ and s3/, one line here, and its URL in the settings
 * parser. The first whose settings are present opens the store; `file`, the data directory that
 * is always set, comes last. The S3 SDK is loaded only when a bucket is used.
 */
const DRIVERS: readonly DriverRegistration[] = [
  driver('s3', (c) => c.s3, () => import('./s3/open.js')),
  driver('file', (c) => c.dataDir, () => import('./filesystem/open.js')),
];

/** The schemes a storage URL may have (for messages). */
export const STORAGE_SCHEMES: readonly string[] = DRIVERS.map((d) => d.scheme);

/** The storage driver the settings ask for. */
export async function openStorage(config: StorageConfig, opts: OpenOptions = {}): Promise<StorageDriver> {
  for (const registration of DRIVERS) {
    const opening = registration.open(config, opts);
    if (opening) return opening;
  }
  throw new Error('no storage driver for these settings');
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
  const storageUrl = flags.storage ?? (flags.data === undefined ? process.env[REGISTRY_ENV.storageUrl] : undefined);
  const s3 = storageUrl ? (await import('./s3/settings.js')).parseStorageUrl(storageUrl) : undefined;
  const dataDir = path.resolve(flags.data ?? process.env[REGISTRY_ENV.storageFilesystemRoot] ?? './data');
  const driver = await openStorage({ dataDir, s3, s3CredentialsFile: flags.s3Credentials ?? process.env[REGISTRY_ENV.storageS3CredentialsFile] }, { existing: true });
  await driver.check?.({ writable });
  return driver;
}
