import type { RegistryConfig } from './config.js';
import type { HtpasswdAuth } from './auth/htpasswd.js';
import type { AccessPolicy } from './auth/access-policy.js';
import { TokenSigner } from './auth/bearer-token.js';
import type { CiTokens } from './auth/ci-tokens.js';
import type { TokenUsage } from './auth/token-usage.js';
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
  /** Signs the tokens of `/v2/token` (used when an access policy lets anonymous requests in). */
  readonly bearer: TokenSigner;

  constructor(
    readonly config: RegistryConfig,
    readonly driver: StorageDriver,
    readonly auth?: HtpasswdAuth,
    /** The access policy in force now (it follows its file); absent without `--access`. */
    readonly access?: { readonly value: AccessPolicy },
    /** CI tokens in force now (they follow their file); absent without `--tokens`. */
    readonly ciTokens?: { readonly value: CiTokens },
    /** When each CI token last signed in; absent without `--tokens-usage`. */
    readonly tokenUsage?: TokenUsage,
  ) {
    this.bearer = new TokenSigner(config.uploadSecret);
    this.blobs = new BlobStore(driver);
    this.uploads = driver.uploadSessions(this.blobs);
    this.manifests = new ManifestStore(driver, this.blobs);
  }
}
