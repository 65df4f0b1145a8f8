import type { RegistryConfig } from '../config.js';
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
