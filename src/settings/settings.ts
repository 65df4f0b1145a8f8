export type TlsMode = 'self-signed' | 'custom' | 'letsencrypt';
/** Where Docker comes from on a host that lacks it: Docker's apt repository, or the release's own docker.io + Compose v2. */
export type DockerSource = 'docker' | 'distribution';
export const DOCKER_SOURCES: readonly DockerSource[] = ['docker', 'distribution'];

/** Everything a deployment is made from. No secrets: passwords travel separately and never land here. */
export interface DeploySettings {
  /** `user@host[:port]` or a Host alias from ~/.ssh/config. */
  target: string;
  /** Public host name of the registry (what `docker login` uses). */
  domain: string;
  email?: string;
  /** The first registry user. */
  user: string;
  tls: TlsMode;
  /** Local files for `--tls custom`. */
  cert?: string;
  key?: string;
  httpPort: number;
  httpsPort: number;
  /** Install directory on the host. */
  dir: string;
  /** Image data on the host (registry:2 layout). */
  dataDir: string;
  /** Base image of the registry image (needs `node` >= 20 on its PATH). */
  nodeImage: string;
  /** nginx image (needs /usr/sbin/nginx). */
  nginxImage: string;
  /** the built-in web UI at / (default on) */
  ui?: boolean;
  acmeDirectory?: string;
  staging?: boolean;
  acmeCa?: string;
  /**
   * `s3://bucket/prefix?endpoint=…&region=…`: the image data lives in an S3-compatible bucket that
   * several hosts can share; absent: `dataDir` on the host. Never holds credentials (they travel
   * apart, see --s3-credentials).
   */
  storage?: string;
  /** compose project name (default registry-setup): must differ between deployments on one machine */
  composeProject?: string;
  /** publish nginx's ports on this address only (default: every address of the host) */
  publishAddress?: string;
  /**
   * where Docker is installed from when a host lacks it (default: Docker's repository; for a release
   * this version does not know, the release's own packages when Docker's repository has no suite)
   */
  dockerSource?: DockerSource;
  /**
   * The host cannot pull the base images (nodeImage, nginxImage): deploy sends them from this
   * machine's Docker over the SSH connection when the host lacks them.
   */
  sendImages?: boolean;
  /**
   * The pull-through cache's upstreams (see src/settings/mirrors.ts): `<domain>/<prefix>/<name>` is
   * `<name>` at the url. Credentials are a LOCAL file path; deploy uploads its content apart.
   */
  mirrors?: MirrorEntry[];
  /** how long a cached mirror tag is served before it is checked upstream again (default 5m) */
  mirrorTagTtl?: string;
  /**
   * zot's `retention:` section (policies, delay), kept as written: the registry's own parser checks
   * it (src/settings/retention.ts); deploy installs a daily timer that applies it, then gc.
   */
  retention?: Record<string, unknown>;
  /**
   * Webhook endpoints (`[{name, url, headers, timeout, actions, repositories, hmacSecretFile}]`, the
   * registry's endpoints file): hmacSecretFile is a local file, uploaded 0600 (src/settings/notify.ts).
   */
  notify?: Record<string, unknown>[];
  /**
   * Who may do what (the `access:` section of registry-setup.yaml, zot's accessControl shape), as
   * YAML text: written to auth/access.yaml on every host; absent: every user may do everything.
   */
  access?: string;
  /**
   * dataDir belongs to a stack that `adopt` took over: deploy leaves its owner and mode alone (the
   * registry reaches it through ACLs adopt set), so the old stack can come back on it (--rollback).
   */
  adoptedData?: boolean;
  /**
   * How the other hosts reach this host's HTTP port to forward an ACME challenge it holds (a host
   * name, an IPv4 or bracketed IPv6 address, optionally with `:port`; default: the target's host
   * and httpPort). Several hosts only.
   */
  peerAddress?: string;
}

/** One entry of `mirrors:` in registry-setup.yaml. */
export interface MirrorEntry {
  prefix: string;
  url: string;
  /** a local file with `username = …` and `password = …` lines (0600) */
  credentials?: string;
  /** also answers unprefixed names that are no local repository (Docker's registry-mirrors) */
  default?: boolean;
}

/** The settings that may differ between the hosts of one deployment (everything else is shared). */
export const HOST_KEYS = ['target', 'dir', 'dataDir', 'httpPort', 'httpsPort', 'composeProject', 'publishAddress', 'peerAddress'] as const;
export type HostKey = (typeof HOST_KEYS)[number];

/** One entry of `hosts:` in registry-setup.yaml: a target and what is different there. */
export type HostEntry = Pick<DeploySettings, 'target'> & Partial<Pick<DeploySettings, Exclude<HostKey, 'target'>>>;

export const DEFAULT_SETTINGS = {
  tls: 'letsencrypt' as TlsMode,
  httpPort: 80,
  httpsPort: 443,
  dir: '/opt/registry-setup',
  nodeImage: 'node:22-bookworm-slim',
  nginxImage: 'nginx:1.27-alpine',
};

// The numbers the host and the image agree on live in the host contract.
export { NGINX_HTTP_PORT, NGINX_HTTPS_PORT, REGISTRY_PORT, REGISTRY_UID } from '../host/contract.js';
