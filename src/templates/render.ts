// Renders templates/*.tmpl ({{name}} placeholders, nothing else) and builds compose.yaml as an object
// stringified with the yaml library. Variants (HTTPS vs HTTP-only nginx) are assembled here in code
// from small template pieces, so the templates themselves stay logic-free.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document, isPair, isScalar, isSeq, visit } from 'yaml';
import {
  NGINX_HTTP_PORT,
  NGINX_HTTPS_PORT,
  REGISTRY_PORT,
  REGISTRY_UID,
  type DeploySettings,
} from '../settings/settings.js';
import { hostPathProblem, isHostName, isIpv4, isPort, isPublishAddress } from '../settings/rules.js';
import { storageCaFile } from '../registry/storage/s3/settings.js';

export class TemplateError extends Error {
  override name = 'TemplateError';
}

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
} as const;

// ---------------------------------------------------------------------------------------------
// Placeholder rendering

export type TemplateValues = Readonly<Record<string, string | number>>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * Replaces every `{{name}}` in `template` with `values[name]`, in one pass (inserted values are not
 * scanned again). Throws on a placeholder without a value, on a malformed placeholder, and on a
 * value that the template never uses (a typo on either side).
 */
export function renderString(template: string, values: TemplateValues, what = 'template'): string {
  const used = new Set<string>();
  const out = template.replace(PLACEHOLDER, (_all, raw: string) => {
    if (!NAME.test(raw)) throw new TemplateError(`${what}: malformed placeholder {{${raw}}}`);
    if (!Object.hasOwn(values, raw)) throw new TemplateError(`${what}: no value for placeholder {{${raw}}}`);
    const value = values[raw];
    if (value === undefined || value === null) throw new TemplateError(`${what}: no value for placeholder {{${raw}}}`);
    used.add(raw);
    return String(value);
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) throw new TemplateError(`${what}: unknown placeholder(s) ${unused.map((k) => `{{${k}}}`).join(', ')} (not in the template)`);
  return out;
}

let cachedDir: string | undefined;

/**
 * The package's templates/ directory, found by walking up from this module: works from src/ (tsx)
 * and from the bundled dist/cli.mjs alike. REGISTRY_SETUP_TEMPLATES overrides it.
 */
export function templatesDir(): string {
  const override = process.env.REGISTRY_SETUP_TEMPLATES;
  if (override) return override;
  if (cachedDir) return cachedDir;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i += 1) {
    const candidate = join(dir, 'templates');
    if (existsSync(join(candidate, 'nginx.conf.tmpl'))) {
      cachedDir = candidate;
      return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new TemplateError(`cannot find the templates/ directory above ${fileURLToPath(import.meta.url)}`);
}

const templateCache = new Map<string, string>();

export function loadTemplate(name: string): string {
  if (!/^[A-Za-z0-9._-]+\.tmpl$/.test(name)) throw new TemplateError(`bad template name "${name}"`);
  let text = templateCache.get(name);
  if (text === undefined) {
    text = readFileSync(join(templatesDir(), name), 'utf8');
    templateCache.set(name, text);
  }
  return text;
}

/** Renders templates/<name> (e.g. `nginx.conf.tmpl`). */
export function renderTemplate(name: string, values: TemplateValues): string {
  return renderString(loadTemplate(name), values, name);
}

// ---------------------------------------------------------------------------------------------
// Input validation: values end up in nginx.conf, a Dockerfile and YAML, so refuse anything that could
// change their structure instead of trying to escape it.

export { isIpv4 };

export function validateDomain(domain: string): string {
  if (!isHostName(domain)) {
    throw new TemplateError(`"${domain}" is not a valid host name (letters, digits, '-' and '.' only)`);
  }
  return domain;
}

export function validatePort(port: number, what: string): number {
  if (!isPort(port)) throw new TemplateError(`${what}: ${port} is not a port number (1-65535)`);
  return port;
}

export function validateImageRef(image: string, what: string): string {
  // repository[:tag][@digest], as docker accepts them; no whitespace or quotes.
  if (!/^[a-z0-9][a-z0-9._\/:@-]*$/i.test(image) || image.length > 512) throw new TemplateError(`${what}: "${image}" is not an image reference`);
  return image;
}

export function validateVersion(version: string): string {
  if (!/^[0-9A-Za-z][0-9A-Za-z.+_-]{0,127}$/.test(version)) throw new TemplateError(`"${version}" is not a version string`);
  return version;
}

function validateAbsolutePath(path: string, what: string): string {
  if (hostPathProblem(path) !== undefined || path.includes('\0')) {
    throw new TemplateError(`${what}: "${path}" must be an absolute path without whitespace, ':', '%', '$', quotes or backslashes`);
  }
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

// ---------------------------------------------------------------------------------------------
// nginx.conf

/**
 * `https`: port 8080 serves ACME challenges and redirects the rest to https; port 8443 proxies the
 * registry. `http-only`: before any certificate exists (Let's Encrypt bootstrap): only port 8080,
 * ACME challenges, and 503 for everything else; no TLS files are read.
 */
export type NginxMode = 'https' | 'http-only';

export interface NginxConfOptions {
  mode: NginxMode;
  domain: string;
  /** the host's public https port, for the redirect (`:port` is added unless 443) */
  httpsPort: number;
  /** Overrides of in-container paths and ports: only for testing the file with a host nginx. */
  paths?: Partial<{ tlsDir: string; webroot: string; tempDir: string }>;
  listen?: Partial<{ http: number; https: number; fallback: number }>;
  upstream?: Partial<{ host: string; port: number }>;
  /**
   * Where nginx finds the registry's data directory (read-only) to send blob bytes itself when the
   * registry answers a blob GET with `X-Accel-Redirect` (filesystem storage only); absent: the
   * registry sends them (a bucket).
   */
  blobBytesDir?: string;
}

/** The internal location the registry names in `X-Accel-Redirect` (REGISTRY_HTTP_ACCELREDIRECT). */
export const BLOB_BYTES_LOCATION = '/_registry_blob_bytes/';
/** nginx's own listener for the by-name fallback to the registry (inside the nginx container). */
export const NGINX_FALLBACK_PORT = 8081;

/**
 * nginx sends a blob's bytes from disk with sendfile. The registry has decided everything first
 * (authorisation, the repository link, a Range it cannot satisfy) and names the file, built from a
 * verified digest only; `internal` keeps clients from naming files themselves. nginx carries
 * Content-Type and Cache-Control over from the registry's answer by itself; Docker-Content-Digest
 * and ETag are added (nginx's own ETag, from the file's time, is off).
 */
function blobBytesLocation(dir: string): string {
  return [
    '',
    `        location ^~ ${BLOB_BYTES_LOCATION} {`,
    '            internal;',
    `            alias ${dir.replace(/\/+$/, '')}/;`,
    '            sendfile on;',
    '            tcp_nopush on;',
    '            etag off;',
    '            types { }',
    '            default_type application/octet-stream;',
    '            # a blob removed by garbage collection after the registry answered',
    '            error_page 404 = @blob_unknown;',
    '            add_header Docker-Distribution-Api-Version registry/2.0 always;',
    '            add_header Docker-Content-Digest $upstream_http_docker_content_digest;',
    '            add_header ETag $upstream_http_etag;',
    '        }',
    '',
    '        location @blob_unknown {',
    '            default_type application/json;',
    '            add_header Docker-Distribution-Api-Version registry/2.0 always;',
    '            return 404 \'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}\';',
    '        }',
  ].join('\n');
}

export function buildNginxConf(opts: NginxConfOptions): string {
  const domain = validateDomain(opts.domain);
  const httpsPort = validatePort(opts.httpsPort, 'https port');
  const tlsDir = opts.paths?.tlsDir ?? CONTAINER_PATHS.tlsDir;
  const webroot = opts.paths?.webroot ?? CONTAINER_PATHS.webroot;
  const tempDir = opts.paths?.tempDir ?? CONTAINER_PATHS.temp;
  for (const [what, p] of [['tlsDir', tlsDir], ['webroot', webroot], ['tempDir', tempDir]] as const) {
    if (!p.startsWith('/') || /[\s;{}'"$]/.test(p)) throw new TemplateError(`nginx ${what}: "${p}" must be an absolute path without spaces, quotes, ';', '{', '}' or '$'`);
  }
  const httpListenPort = validatePort(opts.listen?.http ?? NGINX_HTTP_PORT, 'nginx http listen port');
  const httpsListenPort = validatePort(opts.listen?.https ?? NGINX_HTTPS_PORT, 'nginx https listen port');
  const upstreamHost = opts.upstream?.host ?? 'registry';
  if (!isHostName(upstreamHost)) throw new TemplateError(`nginx upstream host "${upstreamHost}" is not a host name`);
  const upstreamPort = validatePort(opts.upstream?.port ?? REGISTRY_PORT, 'upstream port');
  const fallbackPort = validatePort(opts.listen?.fallback ?? NGINX_FALLBACK_PORT, 'nginx fallback listen port');
  if (opts.blobBytesDir !== undefined && (!opts.blobBytesDir.startsWith('/') || /[\s;{}'"$]/.test(opts.blobBytesDir))) {
    throw new TemplateError(`nginx blob directory "${opts.blobBytesDir}" must be an absolute path without spaces, quotes, ';', '{', '}' or '$'`);
  }

  const servers: string[] = [];
  if (opts.mode === 'https') {
    const portSuffix = httpsPort === 443 ? '' : `:${httpsPort}`;
    servers.push(
      renderTemplate('nginx-http-server.tmpl', {
        fallbackComment: 'everything else is redirected to https.',
        httpListenPort,
        domain,
        webroot,
        fallback: `            return 301 https://$host${portSuffix}$request_uri;`,
      }),
      renderTemplate('nginx-https-server.tmpl', {
        httpsListenPort,
        domain,
        tlsDir,
        blobBytesLocation: opts.blobBytesDir === undefined ? '' : blobBytesLocation(opts.blobBytesDir),
      }),
    );
  } else if (opts.mode === 'http-only') {
    servers.push(
      renderTemplate('nginx-http-server.tmpl', {
        fallbackComment: 'no certificate yet, so the registry is not served (503).',
        httpListenPort,
        domain,
        webroot,
        fallback: [
          '            default_type text/plain;',
          '            return 503 "registry-setup: this registry has no TLS certificate yet\\n";',
        ].join('\n'),
      }),
    );
  } else {
    throw new TemplateError(`unknown nginx mode "${String(opts.mode)}"`);
  }
  return renderTemplate('nginx.conf.tmpl', {
    tempDir,
    upstream: opts.mode === 'https' ? `${renderTemplate('nginx-upstream.tmpl', { upstreamHost, upstreamPort, fallbackPort }).replace(/\n+$/, '')}\n` : '',
    servers: servers.map((s) => s.replace(/\n+$/, '')).join('\n\n'),
  });
}

// ---------------------------------------------------------------------------------------------
// Dockerfile of the registry image

export function buildDockerfile(settings: Pick<DeploySettings, 'nodeImage'>, version: string): string {
  return renderTemplate('Dockerfile.tmpl', {
    nodeImage: validateImageRef(settings.nodeImage, 'nodeImage'),
    version: validateVersion(version),
    uid: REGISTRY_UID,
    gid: REGISTRY_UID,
    port: REGISTRY_PORT,
  });
}

export function buildDockerignore(): string {
  return renderTemplate('dockerignore.tmpl', {});
}

export function registryImageTag(version: string): string {
  return `${REGISTRY_IMAGE_REPO}:${validateVersion(version)}`;
}

// ---------------------------------------------------------------------------------------------
// compose.yaml

export interface ComposeOptions {
  /** registry-setup version: tags the registry image. */
  version: string;
  /** false only for local tests: the registry then runs without authentication. */
  auth: boolean;
  /** Host address the ports are published on (default: all interfaces). */
  publishAddress?: string;
  /** Health check timing of the registry (defaults: 30s / 5s / 3 / 10s). */
  healthcheck?: Partial<{ interval: string; timeout: string; retries: number; startPeriod: string }>;
  realm?: string;
}

type ComposeSettings = Pick<DeploySettings, 'dataDir' | 'httpPort' | 'httpsPort' | 'nginxImage'> & Partial<Pick<DeploySettings, 'ui' | 'storage' | 'composeProject' | 'tls'>>;

/** The compose service the renewal timer runs (`compose run renew renew …`); never started by `up`. */
export const RENEW_SERVICE = 'renew';

/**
 * The storage URL as the registry container sees it: a `ca=<local file>` option points at the
 * uploaded copy instead (returned as caFile, to upload). The rest is passed on as written.
 */
export function storageForContainer(storage: string): { url: string; caFile?: string } {
  // `$` would be interpolated by compose; the registry validates everything else at start.
  if (!/^s3:\/\/[^\s$]+$/.test(storage)) throw new TemplateError(`storage "${storage}" must be an s3:// URL without spaces or '$'`);
  // the storage URL's own parser (the registry's) says which CA file is meant
  const caFile = storageCaFile(storage);
  if (caFile === undefined) return { url: storage };
  // the rest of the URL goes on exactly as written (compose.yaml stays byte-stable)
  const q = storage.indexOf('?');
  const params = storage
    .slice(q + 1)
    .split('&')
    .map((p) => (p.startsWith('ca=') ? `ca=${CONTAINER_PATHS.s3Ca}` : p));
  return { url: `${storage.slice(0, q)}?${params.join('&')}`, caFile };
}

const DURATION_RE = /^\d+(?:ms|s|m|h)$/;

/**
 * compose.yaml as a plain object. Works with `docker compose` (v2) and `docker-compose` 1.27+:
 * no `version:` key (v1.27+ then reads it as the Compose Specification; v2 warns about a version
 * key) and no top-level `name:` (v1 rejects it): the project name is given as `-p registry-setup`
 * on every invocation (see composeCommand in src/provision). Paths of files under settings.dir are
 * relative (`./auth`), which compose resolves against the directory of compose.yaml.
 */
export function composeDocument(settings: ComposeSettings, opts: ComposeOptions): Record<string, unknown> {
  const version = validateVersion(opts.version);
  const dataDir = validateAbsolutePath(settings.dataDir, 'dataDir');
  const httpPort = validatePort(settings.httpPort, 'http port');
  const httpsPort = validatePort(settings.httpsPort, 'https port');
  if (httpPort === httpsPort) throw new TemplateError(`the http and https ports must differ (both are ${httpPort})`);
  const nginxImage = validateImageRef(settings.nginxImage, 'nginxImage');
  const publish = opts.publishAddress;
  if (publish !== undefined && !isPublishAddress(publish)) {
    throw new TemplateError(`publish address "${publish}" must be an IPv4 address or a bracketed IPv6 address`);
  }
  const hc = { interval: '30s', timeout: '5s', retries: 3, startPeriod: '10s', ...opts.healthcheck };
  for (const d of [hc.interval, hc.timeout, hc.startPeriod]) {
    if (!DURATION_RE.test(d)) throw new TemplateError(`health check duration "${d}" is not like 30s`);
  }
  const realm = opts.realm ?? 'Registry Realm';
  if (/[$\n\r"]/.test(realm)) throw new TemplateError(`realm "${realm}" must not contain '$', quotes or newlines`);

  const s3 = settings.storage === undefined ? undefined : storageForContainer(settings.storage);
  const environment: Record<string, string> = {
    REGISTRY_HTTP_ADDR: `0.0.0.0:${REGISTRY_PORT}`,
    ...(s3
      ? { REGISTRY_STORAGE_URL: s3.url, REGISTRY_STORAGE_S3_CREDENTIALSFILE: CONTAINER_PATHS.s3Credentials }
      : { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: CONTAINER_PATHS.data }),
    REGISTRY_STORAGE_DELETE_ENABLED: 'true',
    // Signed upload URLs: any host sharing the secret (and the bucket) continues an upload.
    REGISTRY_HTTP_SECRETFILE: CONTAINER_PATHS.uploadSecret,
    ...(settings.ui === false ? { REGISTRY_UI_ENABLED: 'false' } : {}),
    // nginx sends blob bytes from its read-only mount of the data directory (see buildNginxConf)
    ...(s3 ? {} : { REGISTRY_HTTP_ACCELREDIRECT: BLOB_BYTES_LOCATION }),
  };
  // With a bucket there is no data directory at all. Files read once at start may be mounted alone:
  // they change only with a recreated container (deploy recreates it when they do).
  const registryVolumes = s3
    ? [
        `./${HOST_LAYOUT.s3Credentials}:${CONTAINER_PATHS.s3Credentials}:ro`,
        ...(s3.caFile ? [`./${HOST_LAYOUT.s3Ca}:${CONTAINER_PATHS.s3Ca}:ro`] : []),
      ]
    : [`${dataDir}:${CONTAINER_PATHS.data}`];
  if (opts.auth) {
    environment.REGISTRY_AUTH = 'htpasswd';
    environment.REGISTRY_AUTH_HTPASSWD_PATH = CONTAINER_PATHS.htpasswd;
    environment.REGISTRY_AUTH_HTPASSWD_REALM = realm;
    // The directory, not the file: a file replaced by rename stays visible in the container.
    registryVolumes.push(`./${HOST_LAYOUT.authDir}:${CONTAINER_PATHS.authDir}:ro`);
  }
  // Writable: `gc --state-file` run inside the container records its result here for `status`.
  registryVolumes.push(`./${HOST_LAYOUT.stateDir}:${CONTAINER_PATHS.stateDir}`, `./${HOST_LAYOUT.uploadSecret}:${CONTAINER_PATHS.uploadSecret}:ro`);
  const hardening = {
    read_only: true,
    security_opt: ['no-new-privileges:true'],
    cap_drop: ['ALL'],
    tmpfs: [`${CONTAINER_PATHS.temp}:size=64m,mode=1777`],
  };
  const logging = { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } };
  const prefix = publish === undefined ? '' : `${publish}:`;

  return {
    'x-registry-setup': {
      version,
      // compose v1 has no `name:`; run every compose command with `-p <project>`.
      project: settings.composeProject ?? COMPOSE_PROJECT,
    },
    services: {
      registry: {
        build: { context: `./${HOST_LAYOUT.buildDir}` },
        image: registryImageTag(version),
        user: `${REGISTRY_UID}:${REGISTRY_UID}`,
        ...hardening,
        environment,
        volumes: registryVolumes,
        healthcheck: {
          test: ['CMD', 'node', CONTAINER_PATHS.registryBundle, 'healthcheck'],
          interval: hc.interval,
          timeout: hc.timeout,
          retries: hc.retries,
          start_period: hc.startPeriod,
        },
        // the registry lets in-flight requests finish for up to 30 s after SIGTERM
        stop_grace_period: '40s',
        restart: 'unless-stopped',
        logging,
      },
      nginx: {
        image: nginxImage,
        user: `${NGINX_UID}:${NGINX_UID}`,
        ...hardening,
        command: ['nginx', '-c', CONTAINER_PATHS.nginxConf, '-g', 'daemon off;'],
        volumes: [
          `./${HOST_LAYOUT.nginxDir}:${CONTAINER_PATHS.nginxConfDir}:ro`,
          `./${HOST_LAYOUT.tlsDir}:${CONTAINER_PATHS.tlsDir}:ro`,
          `./${HOST_LAYOUT.webroot}:${CONTAINER_PATHS.webroot}:ro`,
          // read-only: nginx sends blob bytes the registry names (X-Accel-Redirect)
          ...(s3 ? [] : [`${dataDir}:${CONTAINER_PATHS.data}:ro`]),
        ],
        // the data directory is 0750 for the registry's uid and group
        ...(s3 ? {} : { group_add: [String(REGISTRY_UID)] }),
        ports: [`${prefix}${httpPort}:${NGINX_HTTP_PORT}`, `${prefix}${httpsPort}:${NGINX_HTTPS_PORT}`],
        depends_on: ['registry'],
        restart: 'unless-stopped',
        logging,
      },
      ...(settings.tls === 'letsencrypt' ? { [RENEW_SERVICE]: renewService(version, hardening, logging) } : {}),
    },
  };
}

/**
 * The host-side renewal (run by the systemd timer through `compose run`, which gives it this
 * service's settings). It reads and replaces files of three owners: nginx's private key (0600),
 * the registry's state/ and root's acme/. So it runs as root with only the capabilities that takes
 * (ignore file permissions, keep the key's owner), on the compose network to reach nginx:8080.
 * A profile keeps `up` from starting it.
 */
function renewService(version: string, hardening: Record<string, unknown>, logging: Record<string, unknown>): Record<string, unknown> {
  return {
    image: registryImageTag(version),
    profiles: [RENEW_SERVICE],
    user: '0:0',
    ...hardening,
    cap_add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'],
    volumes: [
      `./${HOST_LAYOUT.acmeDir}:${RENEW_PATHS.acmeDir}`,
      `./${HOST_LAYOUT.tlsDir}:${RENEW_PATHS.tlsDir}`,
      `./${HOST_LAYOUT.webroot}:${RENEW_PATHS.webroot}`,
      `./${HOST_LAYOUT.stateDir}:${RENEW_PATHS.stateDir}`,
    ],
    logging,
  };
}

/** Where the renew service sees the deployment's directories. */
export const RENEW_PATHS = { acmeDir: '/acme', tlsDir: '/tls', webroot: '/webroot', stateDir: '/state' } as const;

/**
 * compose.yaml text. Stringified as YAML 1.1 so that every string PyYAML (compose v1) would read as
 * something else (`22:22` as a base-60 number, `yes`/`on` as booleans) comes out quoted.
 */
export function buildCompose(settings: ComposeSettings, opts: ComposeOptions): string {
  const header = '# Generated by registry-setup: edits are overwritten on the next deploy.\n' + `# Run compose with the project name: -p ${settings.composeProject ?? COMPOSE_PROJECT}\n`;
  const doc = new Document(composeDocument(settings, opts), { version: '1.1', aliasDuplicateObjects: false });
  // Quote the values that look like numbers with colons, as compose's documentation advises.
  visit(doc, {
    Pair(_key, pair) {
      if (!isPair(pair) || !isScalar(pair.key) || (pair.key.value !== 'ports' && pair.key.value !== 'user')) return undefined;
      const scalars = isSeq(pair.value) ? pair.value.items : [pair.value];
      for (const s of scalars) if (isScalar(s)) s.type = 'QUOTE_DOUBLE';
      return undefined;
    },
  });
  return header + doc.toString({ lineWidth: 0 });
}
