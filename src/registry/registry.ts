import type { RegistryConfig } from './config.js';
import type { HtpasswdAuth } from './auth/htpasswd.js';
import type { StorageDriver } from './storage/driver.js';
import { BlobStore } from './storage/blob-store.js';
import type { UploadSessions } from './storage/upload-sessions.js';
import { ManifestStore } from './storage/manifest-store.js';
import { ManifestInfoCache } from './manifest-info.js';

/** What every handler works with: the settings and the stores over one storage driver. */
export class Registry {
  readonly blobs: BlobStore;
  readonly uploads: UploadSessions;
  readonly manifests: ManifestStore;
  readonly manifestInfo = new ManifestInfoCache();
  /** Requests received and still running (for shutdown logs and tests that wait for quiet). */
  readonly requests = { started: 0, active: 0 };

  constructor(
    readonly config: RegistryConfig,
    readonly driver: StorageDriver,
    readonly auth?: HtpasswdAuth,
  ) {
    this.blobs = new BlobStore(driver);
    this.uploads = driver.uploadSessions(this.blobs);
    this.manifests = new ManifestStore(driver, this.blobs);
  }
}
