import type { StorageConfig } from '../open.js';
import { S3Driver } from './driver.js';
import { readCredentialsFile, type S3Settings } from './settings.js';

/** The `s3` driver: a bucket of an S3-compatible store, with credentials from their own file. */
export function openDriver(settings: S3Settings, config: StorageConfig): S3Driver {
  // The SDK warns that its releases after January 2027 need Node 22; package.json pins a release
  // that supports Node 20, so the warning would only alarm the people reading the registry's log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const credentials = config.s3CredentialsFile ? readCredentialsFile(config.s3CredentialsFile) : undefined;
  return new S3Driver(settings, credentials);
}
