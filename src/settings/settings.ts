export type TlsMode = 'self-signed' | 'custom' | 'letsencrypt';

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
}

export const DEFAULT_SETTINGS = {
  tls: 'letsencrypt' as TlsMode,
  httpPort: 80,
  httpsPort: 443,
  dir: '/opt/registry-setup',
  nodeImage: 'node:22-bookworm-slim',
  nginxImage: 'nginx:1.27-alpine',
};

/** The registry container's user: a fixed non-root uid so that no /etc/passwd entry is needed in the image. */
export const REGISTRY_UID = 1000;
/** Internal port of the registry on the compose network (never published). */
export const REGISTRY_PORT = 5000;
/** nginx listens on unprivileged ports inside its container; the host's 80/443 are published onto them. */
export const NGINX_HTTP_PORT = 8080;
export const NGINX_HTTPS_PORT = 8443;
