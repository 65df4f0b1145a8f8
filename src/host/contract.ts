// The contract between the host and the registry image, in one place: where files live on the host
// (under the install directory) and inside the containers, the fixed uids and ports, the names of
// the REGISTRY_* variables the image reads and of the commands it runs. Both sides import it: the
// CLI side (renderers, plans, day-2 commands) and the payload (src/registry, renew, gc,
// healthcheck). It imports nothing, so the payload stays free of CLI code.

/** The compose project every deployment runs under (`-p`). compose v1.29 rejects a top-level `name:` key. */
export const COMPOSE_PROJECT = 'registry-setup';
/** Image tag of the registry image built on the host. */
export const REGISTRY_IMAGE_REPO = 'registry-setup/registry';
/** uid:gid of nginx in the official nginx images (and in our stand-in). */
export const NGINX_UID = 101;

/** Paths inside the containers. The host side of each mount is a DIRECTORY under settings.dir. */
export const CONTAINER_PATHS = {
  /** holds nginx.conf (host: <dir>/nginx/) */
  nginxConfDir: '/etc/registry-setup/nginx',
  nginxConf: '/etc/registry-setup/nginx/nginx.conf',
  /** holds fullchain.pem + privkey.pem (host: <dir>/tls/) */
  tlsDir: '/etc/registry-setup/tls',
  /** ACME http-01 webroot (host: <dir>/webroot/) */
  webroot: '/var/www/acme',
  /** holds htpasswd (host: <dir>/auth/) */
  authDir: '/etc/registry-setup/auth',
  htpasswd: '/etc/registry-setup/auth/htpasswd',
  /** registry:2 layout (host: settings.dataDir) */
  data: '/var/lib/registry',
  /** tmpfs in both containers */
  temp: '/tmp',
  /** the payload's entry inside the registry image (its chunks are in /app/chunks/) */
  registryBundle: '/app/registry.mjs',
  /** results for `status` (gc.json, written by `gc --state-file`); writable by the registry (host: <dir>/state/) */
  stateDir: '/var/lib/registry-setup/state',
  /** the secret that signs upload URLs, shared by every host (host: <dir>/upload-secret, read at start) */
  uploadSecret: '/etc/registry-setup/upload-secret',
  /** access key and secret of the bucket (host: <dir>/s3-credentials, read at start) */
  s3Credentials: '/etc/registry-setup/s3-credentials',
  /** the bucket endpoint's CA when the storage URL has `ca=` (host: <dir>/s3-ca.pem) */
  s3Ca: '/etc/registry-setup/s3-ca.pem',
  /** one upstream credentials file per mirror that has them (host: <dir>/mirror-credentials/, read at start) */
  mirrorCredentialsDir: '/etc/registry-setup/mirror-credentials',
  /** access control (with `access:` in registry-setup.yaml): the policy and the CI tokens, in auth/ */
  accessPolicy: '/etc/registry-setup/auth/access.yaml',
  ciTokens: '/etc/registry-setup/auth/tokens.yaml',
  /** when each CI token last signed in (the registry writes it) */
  tokensUsage: '/var/lib/registry-setup/state/tokens-usage.json',
} as const;

/** Host-side layout under settings.dir (relative paths). */
export const HOST_LAYOUT = {
  compose: 'compose.yaml',
  nginxDir: 'nginx',
  nginxConf: 'nginx/nginx.conf',
  authDir: 'auth',
  htpasswd: 'auth/htpasswd',
  tlsDir: 'tls',
  certificate: 'tls/fullchain.pem',
  privateKey: 'tls/privkey.pem',
  webroot: 'webroot',
  /** ACME account keys and the CA file (root only) */
  acmeDir: 'acme',
  acmeChallengeDir: 'webroot/.well-known/acme-challenge',
  buildDir: 'build',
  dockerfile: 'build/Dockerfile',
  dockerignore: 'build/.dockerignore',
  /** the registry payload (dist/registry/ of the package): registry.mjs and chunks/ */
  registryPayload: 'build/registry',
  deployedSettings: 'registry-setup.json',
  /** last GC and renewal results, read by `status`; owned by the registry's uid (it writes gc.json) */
  stateDir: 'state',
  gcState: 'state/gc.json',
  renewalState: 'state/renewal.json',
  /** written with a new certificate by the host-side renewal, removed once nginx reloaded it */
  reloadMarker: 'state/reload-pending',
  uploadSecret: 'upload-secret',
  s3Credentials: 's3-credentials',
  s3Ca: 's3-ca.pem',
  /** upstream credentials of the mirrors, one file each (0600, the registry's uid) */
  mirrorCredentialsDir: 'mirror-credentials',
  /** access control: the policy from registry-setup.yaml's access:, the CI tokens (both 0600, the registry's uid) */
  accessPolicy: 'auth/access.yaml',
  ciTokens: 'auth/tokens.yaml',
  tokensUsage: 'state/tokens-usage.json',
} as const;

/** The registry container's user: a fixed non-root uid so that no /etc/passwd entry is needed in the image. */
export const REGISTRY_UID = 1000;
/** Internal port of the registry on the compose network (never published). */
export const REGISTRY_PORT = 5000;
/** nginx listens on unprivileged ports inside its container; the host's 80/443 are published onto them. */
export const NGINX_HTTP_PORT = 8080;
export const NGINX_HTTPS_PORT = 8443;

/** The internal location the registry names in `X-Accel-Redirect` (REGISTRY_HTTP_ACCELREDIRECT). */
export const BLOB_BYTES_LOCATION = '/_registry_blob_bytes/';

/** The compose service the renewal timer runs (`compose run renew renew …`); never started by `up`. */
export const RENEW_SERVICE = 'renew';

/** Where the renew service sees the deployment's directories. */
export const RENEW_PATHS = { acmeDir: '/acme', tlsDir: '/tls', webroot: '/webroot', stateDir: '/state' } as const;

/** The registry image's commands (`node /app/registry.mjs <command>`). */
export const IMAGE_COMMANDS = {
  serve: 'serve',
  healthcheck: 'healthcheck',
  gc: 'gc',
  count: 'count',
  renew: 'renew',
  // backup and restore (issue 23 §2)
  backup: 'backup',
  restore: 'restore',
} as const;

/** The environment variables the registry reads at start (deploy writes them into compose.yaml). */
export const REGISTRY_ENV = {
  httpAddr: 'REGISTRY_HTTP_ADDR',
  httpSecret: 'REGISTRY_HTTP_SECRET',
  httpSecretFile: 'REGISTRY_HTTP_SECRETFILE',
  httpAccelRedirect: 'REGISTRY_HTTP_ACCELREDIRECT',
  httpTlsCertificate: 'REGISTRY_HTTP_TLS_CERTIFICATE',
  httpTlsKey: 'REGISTRY_HTTP_TLS_KEY',
  auth: 'REGISTRY_AUTH',
  authHtpasswdPath: 'REGISTRY_AUTH_HTPASSWD_PATH',
  authHtpasswdRealm: 'REGISTRY_AUTH_HTPASSWD_REALM',
  storageFilesystemRoot: 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY',
  storageUrl: 'REGISTRY_STORAGE_URL',
  storageS3CredentialsFile: 'REGISTRY_STORAGE_S3_CREDENTIALSFILE',
  storageDeleteEnabled: 'REGISTRY_STORAGE_DELETE_ENABLED',
  storageReadOnly: 'REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED',
  uiEnabled: 'REGISTRY_UI_ENABLED',
  uploadPurgingAge: 'REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE',
  uploadPurgingInterval: 'REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_INTERVAL',
  mirrors: 'REGISTRY_MIRRORS',
  mirrorsCredentials: 'REGISTRY_MIRRORS_CREDENTIALS',
  mirrorsDefault: 'REGISTRY_MIRRORS_DEFAULT',
  mirrorsTagTtl: 'REGISTRY_MIRRORS_TAGTTL',
  // observability (src/templates/retention-service.ts)
  httpTrustProxy: 'REGISTRY_HTTP_TRUSTPROXY',
  metricsAddr: 'REGISTRY_METRICS_ADDR',
  stateDirectory: 'REGISTRY_STATE_DIRECTORY',
  notificationsConfig: 'REGISTRY_NOTIFICATIONS_CONFIG',
  notificationsDirectory: 'REGISTRY_NOTIFICATIONS_DIRECTORY',
  authAccessPath: 'REGISTRY_AUTH_ACCESS_PATH',
  authTokensPath: 'REGISTRY_AUTH_TOKENS_PATH',
  authTokensUsagePath: 'REGISTRY_AUTH_TOKENS_USAGEPATH',
  // read by the registry but not written by deploy (a hand-written compose file or `serve` may set them)
  notificationsUrls: 'REGISTRY_NOTIFICATIONS_URLS',
  mirrorsTimeout: 'REGISTRY_MIRRORS_TIMEOUT',
  logAccessLogDisabled: 'REGISTRY_LOG_ACCESSLOG_DISABLED',
} as const;

// Retention on the host (src/provision/retention.ts): a daily systemd timer runs the image's
// `retention` command through this compose service (a profile keeps `up` from starting it).
export const RETENTION_SERVICE = 'retention';
export const RETENTION_LAYOUT = {
  /** the `retention:` section of registry-setup.yaml, as the registry's uid reads it */
  policy: 'retention.yaml',
  script: 'retention.sh',
  /** the last run's record (written by `retention --state-file`), read by `status` */
  state: 'state/retention.json',
} as const;
export const RETENTION_CONTAINER_PATHS = { policy: '/etc/registry-setup/retention.yaml', state: '/var/lib/registry-setup/state/retention.json' } as const;
/** The registry's Prometheus listener: on the compose network only (nginx does not publish it). */
export const METRICS_PORT = 5001;
/** The image's retention command (`node /app/registry.mjs retention …`). */
export const RETENTION_COMMAND = 'retention';
/** Webhook endpoints from registry-setup.yaml's `notify:` (src/provision/notify.ts); read at start. */
export const NOTIFY_LAYOUT = { dir: 'notify', endpoints: 'notify/endpoints.yaml' } as const;
export const NOTIFY_CONTAINER_PATHS = {
  dir: '/etc/registry-setup/notify',
  endpoints: '/etc/registry-setup/notify/endpoints.yaml',
  /** undelivered events wait here (writable state/, with a bucket too) */
  eventsDir: '/var/lib/registry-setup/state/events',
} as const;

/**
 * The second registry slot: `upgrade` starts the new image here beside the running registry and
 * points nginx at it while the `registry` service is recreated (a gapless upgrade). Only `upgrade`
 * starts it (a compose profile keeps `up` from doing so); it is removed when the upgrade ends.
 */
export const NEXT_REGISTRY_SERVICE = 'registry-next';
export const NEXT_REGISTRY_PROFILE = 'upgrade';
