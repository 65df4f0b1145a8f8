// The files and directories of a deployment under settings.dir, and the steps that put them in place.
import { posix } from 'node:path';
import { REGISTRY_UID, type DeploySettings } from '../settings/settings.js';
import { CONTAINER_PATHS, HOST_LAYOUT } from '../host/contract.js';
import { buildCompose, buildDockerfile, buildDockerignore, buildNginxConf, storageForContainer, type ComposeOptions, type NginxMode } from '../templates/render.js';
import type { DirSpec, FileSpec } from './step.js';
import { mirrorCredentialFiles } from './mirrors.js';
import { notifyDirectory, notifyFiles } from './notify.js';
import { accessFileContent } from '../settings/access.js';

export interface PayloadFile {
  path: string;
  content: Buffer | string;
}

/** The payload's paths are written under build/registry/: plain relative paths only, the entry among them. */
function checkPayload(files: readonly PayloadFile[]): void {
  if (!files.some((f) => f.path === 'registry.mjs')) throw new Error('the registry payload has no registry.mjs (run `npm run build`)');
  for (const f of files) {
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(f.path) || f.path.split('/').some((part) => part === '..' || part === '.')) {
      throw new Error(`unexpected file in the registry payload: ${JSON.stringify(f.path)}`);
    }
  }
}

/** Directories under build/registry/ that the payload's files need (chunks/, …), parents first. */
export function payloadDirectories(files: readonly PayloadFile[]): string[] {
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs].sort();
}

/** Whether a host path is an input of the registry image's build (Dockerfile, .dockerignore, payload). */
export function isBuildInput(installDir: string, hostPath: string): boolean {
  return hostPath.startsWith(`${posix.join(installDir, HOST_LAYOUT.buildDir)}/`);
}

/** Whether a host path is one of the payload's files (under build/registry/). */
export function isPayloadFile(installDir: string, hostPath: string): boolean {
  return hostPath.startsWith(`${posix.join(installDir, HOST_LAYOUT.registryPayload)}/`);
}

/**
 * Removes the files under build/registry/ that are not part of `payload`: chunk names carry a hash
 * of their content, so a new version's payload leaves the old chunks behind otherwise.
 */
export function prunePayloadArgv(installDir: string, payload: readonly PayloadFile[]): string[] {
  return pruneFilesArgv(posix.join(installDir, HOST_LAYOUT.registryPayload), payload.map((f) => f.path));
}

/** Removes every file under `dirPath` whose relative path is not in `keep` (nothing when the directory is missing). */
export function pruneFilesArgv(dirPath: string, keep: readonly string[]): string[] {
  const script = [
    'cd "$1" || exit 0',
    'shift',
    'find . -type f | while IFS= read -r f; do',
    '  f=${f#./}; keep=',
    '  for k in "$@"; do [ "$f" = "$k" ] && keep=1 && break; done',
    '  [ -n "$keep" ] || rm -f -- "$f" || exit 1',
    'done',
  ].join('\n');
  return ['sh', '-c', script, 'sh', dirPath, ...keep];
}

export interface RenderDeploymentOptions {
  /** registry-setup version: image tag, image label, registry-setup.json */
  version: string;
  /** the package's dist/registry/: `registry.mjs` and the chunks it loads, by path inside it */
  registryPayload: readonly PayloadFile[];
  /**
   * Content of auth/htpasswd (bcrypt entries). Omitted: the host's file stays as it is (upgrade),
   * authentication on. `null` deploys a registry WITHOUT authentication: meant for local tests
   * only, and never the default.
   */
  htpasswd?: string | null;
  /**
   * Content of upload-secret (signs upload URLs; the same on every host). compose.yaml always
   * mounts it; omit it only when the file is already on the host and stays as it is (upgrade).
   */
  uploadSecret?: string;
  /**
   * The HMAC secrets of settings.notify's endpoints, by name (readNotifySecrets): with them the
   * notify/ files are written; omitted (upgrade), the host's notify/ files stay as they are.
   */
  notifySecrets?: Readonly<Record<string, string>>;
  /** Content of s3-credentials (`access_key_id = …` / `secret_access_key = …`), with settings.storage. */
  s3Credentials?: string;
  /** The bucket endpoint's CA (PEM), when settings.storage has `ca=<local file>`. */
  s3Ca?: string | Buffer;
  /** 'https' (default) needs tls/fullchain.pem + tls/privkey.pem; 'http-only' before any certificate exists */
  nginxMode?: NginxMode;
  /** publish the ports on this address only (tests: 127.0.0.1) */
  publishAddress?: string;
  healthcheck?: ComposeOptions['healthcheck'];
  /** Content of each mirror's upstream credentials file, by prefix (readMirrorCredentialFiles). */
  mirrorCredentials?: ReadonlyMap<string, string>;
  /**
   * Content of auth/tokens.yaml (CI tokens, hashed), written whenever there are users (with or
   * without settings.access). Omitted: the host's file stays as it is (`tokens` commands edit it).
   */
  ciTokens?: string;
  /** the compose service nginx proxies to (default `registry`; an upgrade points it at the next slot) */
  nginxUpstreamHost?: string;
  /**
   * Several Let's Encrypt hosts: the others' `address:port`, where nginx forwards challenge requests
   * it cannot answer (recorded in registry-setup.json, so that upgrade renders the same nginx.conf).
   */
  acmePeers?: readonly string[];
}

export interface RenderedDeployment {
  /** created (or re-moded) with `install -d` before the files are written, parents first */
  directories: DirSpec[];
  files: FileSpec[];
}

/** What registry-setup.json records: the settings as deployed (no secrets) and the CLI version. */
export function deployedSettingsJson(settings: DeploySettings, version: string, nginxMode: NginxMode, acmePeers: readonly string[] = []): string {
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(settings).sort()) {
    const value = (settings as unknown as Record<string, unknown>)[key];
    if (value !== undefined) sorted[key] = value;
  }
  // No timestamps: the same inputs must give the same bytes, so a re-deploy sees "unchanged".
  return `${JSON.stringify({ registrySetupVersion: version, nginxMode, ...(acmePeers.length ? { acmePeers } : {}), settings: sorted }, null, 2)}\n`;
}

/**
 * Every file of a deployment, byte-stable for the same inputs. Ownership:
 * - auth/htpasswd, upload-secret, s3-credentials: 0600, owner 1000:1000: the registry runs as uid 1000
 *   and must read them; nobody else in the containers can. (On the host, uid 1000 is often the first
 *   login user, who can read them too; that user usually has sudo anyway.)
 * - data directory: 0750, owner 1000:1000 (the registry writes it); none with settings.storage.
 * - everything else root-owned, 0644 files in 0755 directories (nginx, uid 101, reads nginx.conf and
 *   the webroot). The tls/ directory is created here but its files come from the TLS step.
 */
export function renderDeploymentFiles(settings: DeploySettings, opts: RenderDeploymentOptions): RenderedDeployment {
  const { version } = opts;
  const nginxMode = opts.nginxMode ?? 'https';
  const dir = settings.dir.replace(/\/+$/, '') || '/';
  if (!dir.startsWith('/')) throw new Error(`the install directory must be an absolute path, not "${settings.dir}"`);
  const at = (rel: string): string => posix.join(dir, rel);
  const uid = REGISTRY_UID;
  checkPayload(opts.registryPayload);

  const directories: DirSpec[] = [
    { path: dir, mode: 0o755 },
    { path: at(HOST_LAYOUT.nginxDir), mode: 0o755 },
    { path: at(HOST_LAYOUT.authDir), mode: 0o755 },
    { path: at(HOST_LAYOUT.tlsDir), mode: 0o755 },
    { path: at(HOST_LAYOUT.buildDir), mode: 0o755 },
    { path: at(HOST_LAYOUT.registryPayload), mode: 0o755 },
    ...payloadDirectories(opts.registryPayload).map((d) => ({ path: at(posix.join(HOST_LAYOUT.registryPayload, d)), mode: 0o755 })),
    { path: at(HOST_LAYOUT.webroot), mode: 0o755 },
    { path: posix.dirname(at(HOST_LAYOUT.acmeChallengeDir)), mode: 0o755 },
    { path: at(HOST_LAYOUT.acmeChallengeDir), mode: 0o755 },
    { path: at(HOST_LAYOUT.stateDir), mode: 0o755, owner: uid, group: uid },
    ...(settings.storage === undefined && !settings.adoptedData ? [{ path: settings.dataDir, mode: 0o750, owner: uid, group: uid }] : []),
    ...(settings.notify?.length ? [notifyDirectory(settings)] : []),
  ];

  const compose = buildCompose(settings, {
    version,
    auth: opts.htpasswd !== null,
    publishAddress: opts.publishAddress ?? settings.publishAddress,
    healthcheck: opts.healthcheck,
    accessControl: settings.access !== undefined,
  });
  const nginxConf = buildNginxConf({ mode: nginxMode, domain: settings.domain, httpsPort: settings.httpsPort, ...(settings.storage ? {} : { blobBytesDir: CONTAINER_PATHS.data }), acmePeers: opts.acmePeers, ...(opts.nginxUpstreamHost ? { upstream: { host: opts.nginxUpstreamHost } } : {}) });

  const files: FileSpec[] = [
    { path: at(HOST_LAYOUT.compose), content: compose, mode: 0o644 },
    { path: at(HOST_LAYOUT.nginxConf), content: nginxConf, mode: 0o644 },
    { path: at(HOST_LAYOUT.dockerfile), content: buildDockerfile(settings, version), mode: 0o644 },
    { path: at(HOST_LAYOUT.dockerignore), content: buildDockerignore(), mode: 0o644 },
    ...opts.registryPayload.map((f) => ({ path: at(posix.join(HOST_LAYOUT.registryPayload, f.path)), content: f.content, mode: 0o644 })),
    { path: at(HOST_LAYOUT.deployedSettings), content: deployedSettingsJson(settings, version, nginxMode, opts.acmePeers), mode: 0o644 },
  ];
  if (opts.htpasswd !== null && opts.htpasswd !== undefined) {
    if (!/^[^:\s]+:\S+$/m.test(opts.htpasswd)) throw new Error('htpasswd content has no "user:hash" line');
    const content = opts.htpasswd.endsWith('\n') ? opts.htpasswd : `${opts.htpasswd}\n`;
    files.push({ path: at(HOST_LAYOUT.htpasswd), content, mode: 0o600, owner: uid, group: uid, sensitive: true });
  }
  if (settings.access !== undefined && opts.htpasswd !== null) {
    // read by the registry (uid 1000) only; replaced atomically, so the running registry applies it within a second
    files.push({ path: at(HOST_LAYOUT.accessPolicy), content: accessFileContent(settings.access), mode: 0o600, owner: uid, group: uid });
  }
  // the CI tokens file, on every deployment with users (compose.yaml points the registry at it)
  if (opts.ciTokens !== undefined && opts.htpasswd !== null) files.push({ path: at(HOST_LAYOUT.ciTokens), content: opts.ciTokens, mode: 0o600, owner: uid, group: uid, sensitive: true });
  const secret = (rel: string, content: string) => files.push({ path: at(rel), content: content.endsWith('\n') ? content : `${content}\n`, mode: 0o600, owner: uid, group: uid, sensitive: true });
  if (opts.uploadSecret !== undefined) {
    if (!/^\S{32,}$/.test(opts.uploadSecret)) throw new Error('the upload secret must be 32 or more characters without spaces');
    secret(HOST_LAYOUT.uploadSecret, opts.uploadSecret);
  }
  if (settings.storage !== undefined) {
    if (opts.s3Credentials !== undefined) secret(HOST_LAYOUT.s3Credentials, opts.s3Credentials);
    if (storageForContainer(settings.storage).caFile !== undefined && opts.s3Ca !== undefined) files.push({ path: at(HOST_LAYOUT.s3Ca), content: opts.s3Ca, mode: 0o644 });
  }
  const mirrors = mirrorCredentialFiles(settings, dir, opts.mirrorCredentials);
  directories.push(...mirrors.directories);
  files.push(...mirrors.files);
  if (settings.notify?.length && opts.notifySecrets !== undefined) files.push(...notifyFiles({ ...settings, dir }, opts.notifySecrets));
  return { directories, files };
}
