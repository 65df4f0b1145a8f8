import { readFileSync } from 'node:fs';
import { parseStorageUrl, type S3Settings } from './storage/s3/settings.js';
import { ConfigError } from './config-error.js';
import { REGISTRY_ENV } from '../host/contract.js';
import { attachCredentials, checkMirrors, parseMirror, parseMirrorPrefix, type MirrorSettings } from './mirror/settings.js';

export { ConfigError };

/** Everything the registry server needs to run; built from flags and distribution's environment variables. */
export interface RegistryConfig {
  host: string;
  port: number;
  dataDir: string;
  htpasswd?: string;
  /** Who may do what (zot's accessControl in YAML); without it every signed-in user may do everything. */
  accessFile?: string;
  /** CI tokens (hashed secrets, scopes, expiry) accepted as passwords. */
  tokensFile?: string;
  /** Where the registry records when each CI token last signed in (for `tokens list`). */
  tokensUsageFile?: string;
  realm: string;
  tlsCert?: string;
  tlsKey?: string;
  readOnly: boolean;
  deleteEnabled: boolean;
  /** Mount a blob that exists anywhere in the store when a client asks for a mount without `from`. */
  autoMount: boolean;
  uploadMaxAgeMs: number;
  uploadPurgeIntervalMs: number;
  maxManifestBytes: number;
  /** How long in-flight requests may run on after SIGTERM before connections are cut. */
  shutdownGraceMs: number;
  /** Serve the web UI at `/` (and its JSON API under `/ui/api/`). */
  ui: boolean;
  /** Keep the data in an S3-compatible bucket instead of `dataDir`. */
  s3?: S3Settings;
  /** Access key and secret for `s3`; without it the AWS SDK's usual sources are used. */
  s3CredentialsFile?: string;
  /** Signs upload Locations so that replicas sharing it can continue each other's uploads. */
  uploadSecret?: string;
  /**
   * Behind nginx with a read-only copy of `dataDir`: blob GETs answer with `X-Accel-Redirect:
   * <prefix>docker/registry/v2/blobs/…/data` and nginx sends the bytes (filesystem storage only).
   */
  accelRedirect?: string;
  /** Upstream registries served read-only under a name prefix (pull-through cache). */
  mirrors: MirrorSettings[];
  /** The mirror that also answers unprefixed names that are no local repository (Docker's registry-mirrors). */
  mirrorDefault?: string;
  /** A cached tag older than this is checked upstream with a HEAD before it is served. */
  mirrorTagTtlMs: number;
  /** Bound on connecting and on waiting for the next byte from an upstream. */
  mirrorTimeoutMs: number;
  /** Take the client's address from X-Real-IP / X-Forwarded-For (set only behind our nginx). */
  trustProxy: boolean;
  /** Write one JSON line per request on stdout (`serve`; distribution's log.accesslog.disabled turns it off). */
  accessLog: boolean;
  /** Serve Prometheus metrics at /metrics on this separate address (never the registry's own port). */
  metricsListen?: { host: string; port: number };
  /** How often the metrics' storage figures are recomputed by walking the store. */
  metricsStorageIntervalMs: number;
  /** Where the host's commands record their last results (gc.json, retention.json, renewal.json). */
  stateDir?: string;
  /** Webhook URLs (`--notify`, repeatable) that get distribution's notification envelopes. */
  notify: string[];
  /** The endpoints file: headers, event filters, timeouts, HMAC secret files. */
  notifyConfig?: string;
  /** Where events wait for delivery (default: `<data dir>/_events`). */
  eventsDir?: string;
  /** How many undelivered events wait at most; beyond, the oldest are dropped (and counted). */
  eventsMax: number;
}

export const DEFAULT_CONFIG: RegistryConfig = {
  host: '127.0.0.1',
  port: 5000,
  dataDir: './data',
  realm: 'Registry',
  readOnly: false,
  deleteEnabled: true,
  autoMount: true,
  uploadMaxAgeMs: 168 * 3600_000,
  uploadPurgeIntervalMs: 24 * 3600_000,
  maxManifestBytes: 4 * 1024 * 1024,
  shutdownGraceMs: 30_000,
  ui: true,
  mirrors: [],
  mirrorTagTtlMs: 5 * 60_000,
  mirrorTimeoutMs: 30_000,
  trustProxy: false,
  accessLog: true,
  metricsStorageIntervalMs: 5 * 60_000,
  notify: [],
  eventsMax: 10_000,
};


/** Go-style durations as distribution writes them: `168h`, `30m`, `1h30m`, `10s`, `500ms`. */
export function parseDuration(text: string, what: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * units[m[2]!]!;
    consumed += m[0].length;
  }
  if (!text || consumed !== text.length) throw new ConfigError(`${what}: "${text}" is not a duration like 168h, 30m or 10s`);
  return total;
}

function parseBool(text: string, what: string): boolean {
  if (/^(true|1|yes|on)$/i.test(text)) return true;
  if (/^(false|0|no|off)$/i.test(text)) return false;
  throw new ConfigError(`${what}: "${text}" is not true or false`);
}

/** An nginx location prefix: `/name/`, nothing a header or a path could be bent with. */
export function parseAccelPrefix(text: string, what: string): string {
  if (!/^\/[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*\/$/.test(text)) throw new ConfigError(`${what}: ${JSON.stringify(text)} is not a location prefix like /_registry_blob_bytes/`);
  return text;
}

export function parsePort(text: string, what: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new ConfigError(`${what}: "${text}" is not a port number (0-65535)`);
  return port;
}

/** `host:port` or `[v6]:port` to listen on; an empty host means every interface, as in distribution. */
export function parseListenAddress(text: string, what: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  if (i < 0) throw new ConfigError(`${what}: "${text}" is not host:port`);
  return { host: text.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0', port: parsePort(text.slice(i + 1), what) };
}

/**
 * distribution's `REGISTRY_*` variables, so a registry:2 compose file works unchanged; the names deploy
 * writes into compose.yaml come from the host contract.
 */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<RegistryConfig> {
  const out: Partial<RegistryConfig> = {};
  const addr = env[REGISTRY_ENV.httpAddr];
  if (addr) {
    const listen = parseListenAddress(addr, REGISTRY_ENV.httpAddr);
    out.host = listen.host;
    out.port = listen.port;
  }
  if (env[REGISTRY_ENV.metricsAddr]) out.metricsListen = parseListenAddress(env[REGISTRY_ENV.metricsAddr]!, REGISTRY_ENV.metricsAddr);
  if (env[REGISTRY_ENV.stateDirectory]) out.stateDir = env[REGISTRY_ENV.stateDirectory];
  if (env[REGISTRY_ENV.notificationsUrls]) out.notify = env[REGISTRY_ENV.notificationsUrls]!.split(/[\s,]+/).filter(Boolean);
  if (env[REGISTRY_ENV.notificationsConfig]) out.notifyConfig = env[REGISTRY_ENV.notificationsConfig];
  if (env[REGISTRY_ENV.notificationsDirectory]) out.eventsDir = env[REGISTRY_ENV.notificationsDirectory];
  if (env[REGISTRY_ENV.storageFilesystemRoot]) out.dataDir = env[REGISTRY_ENV.storageFilesystemRoot];
  if (env[REGISTRY_ENV.auth] !== undefined && env[REGISTRY_ENV.auth] !== '') {
    if (env[REGISTRY_ENV.auth] !== 'htpasswd') throw new ConfigError(`${REGISTRY_ENV.auth}: only "htpasswd" is supported, not "${env[REGISTRY_ENV.auth]}"`);
    if (!env[REGISTRY_ENV.authHtpasswdPath]) throw new ConfigError(`${REGISTRY_ENV.auth}=htpasswd needs ${REGISTRY_ENV.authHtpasswdPath}`);
  }
  if (env[REGISTRY_ENV.authHtpasswdPath]) out.htpasswd = env[REGISTRY_ENV.authHtpasswdPath];
  if (env[REGISTRY_ENV.authAccessPath]) out.accessFile = env[REGISTRY_ENV.authAccessPath];
  if (env[REGISTRY_ENV.authTokensPath]) out.tokensFile = env[REGISTRY_ENV.authTokensPath];
  if (env[REGISTRY_ENV.authTokensUsagePath]) out.tokensUsageFile = env[REGISTRY_ENV.authTokensUsagePath];
  if (env[REGISTRY_ENV.authHtpasswdRealm]) out.realm = env[REGISTRY_ENV.authHtpasswdRealm];
  if (env[REGISTRY_ENV.storageDeleteEnabled]) out.deleteEnabled = parseBool(env[REGISTRY_ENV.storageDeleteEnabled]!, REGISTRY_ENV.storageDeleteEnabled);
  if (env[REGISTRY_ENV.httpTlsCertificate]) out.tlsCert = env[REGISTRY_ENV.httpTlsCertificate];
  if (env[REGISTRY_ENV.httpTlsKey]) out.tlsKey = env[REGISTRY_ENV.httpTlsKey];
  if (env[REGISTRY_ENV.storageReadOnly]) {
    out.readOnly = parseBool(env[REGISTRY_ENV.storageReadOnly]!, REGISTRY_ENV.storageReadOnly);
  }
  if (env[REGISTRY_ENV.storageUrl]) out.s3 = parseStorageUrl(env[REGISTRY_ENV.storageUrl]!);
  if (env[REGISTRY_ENV.storageS3CredentialsFile]) out.s3CredentialsFile = env[REGISTRY_ENV.storageS3CredentialsFile];
  if (env[REGISTRY_ENV.httpSecret]) out.uploadSecret = env[REGISTRY_ENV.httpSecret];
  if (env[REGISTRY_ENV.httpSecretFile]) out.uploadSecret = readSecretFile(env[REGISTRY_ENV.httpSecretFile]!, REGISTRY_ENV.httpSecretFile);
  if (env[REGISTRY_ENV.uiEnabled]) out.ui = parseBool(env[REGISTRY_ENV.uiEnabled]!, REGISTRY_ENV.uiEnabled);
  if (env[REGISTRY_ENV.httpAccelRedirect]) out.accelRedirect = parseAccelPrefix(env[REGISTRY_ENV.httpAccelRedirect]!, REGISTRY_ENV.httpAccelRedirect);
  if (env[REGISTRY_ENV.mirrors]) out.mirrors = splitList(env[REGISTRY_ENV.mirrors]!).map((m) => parseMirror(m, REGISTRY_ENV.mirrors));
  if (env[REGISTRY_ENV.mirrorsCredentials]) {
    out.mirrors = attachCredentials(out.mirrors ?? [], splitList(env[REGISTRY_ENV.mirrorsCredentials]!), REGISTRY_ENV.mirrorsCredentials);
  }
  if (env[REGISTRY_ENV.mirrorsDefault]) out.mirrorDefault = parseMirrorPrefix(env[REGISTRY_ENV.mirrorsDefault]!, REGISTRY_ENV.mirrorsDefault);
  if (env[REGISTRY_ENV.mirrorsTagTtl]) out.mirrorTagTtlMs = parseDuration(env[REGISTRY_ENV.mirrorsTagTtl]!, REGISTRY_ENV.mirrorsTagTtl);
  if (env[REGISTRY_ENV.mirrorsTimeout]) out.mirrorTimeoutMs = parseDuration(env[REGISTRY_ENV.mirrorsTimeout]!, REGISTRY_ENV.mirrorsTimeout);
  if (env[REGISTRY_ENV.httpTrustProxy]) out.trustProxy = parseBool(env[REGISTRY_ENV.httpTrustProxy]!, REGISTRY_ENV.httpTrustProxy);
  if (env[REGISTRY_ENV.logAccessLogDisabled]) out.accessLog = !parseBool(env[REGISTRY_ENV.logAccessLogDisabled]!, REGISTRY_ENV.logAccessLogDisabled);
  const age = env[REGISTRY_ENV.uploadPurgingAge];
  if (age) out.uploadMaxAgeMs = parseDuration(age, REGISTRY_ENV.uploadPurgingAge);
  const interval = env[REGISTRY_ENV.uploadPurgingInterval];
  if (interval) out.uploadPurgeIntervalMs = parseDuration(interval, REGISTRY_ENV.uploadPurgingInterval);
  return out;
}

/** A list in one variable: items separated by commas or white space. */
function splitList(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

/** A file holding one secret (the upload secret): trimmed, and at least 16 characters. */
export function readSecretFile(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`${what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (text.length < 16) throw new ConfigError(`${what}: ${file} must hold a secret of at least 16 characters`);
  return text;
}

export function validateConfig(config: RegistryConfig): RegistryConfig {
  if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) throw new ConfigError('TLS needs both a certificate and a key (--tls-cert and --tls-key)');
  if (config.accessFile && !config.htpasswd) {
    throw new ConfigError('--access needs --htpasswd: the policy names users, and without a user file every request would be anonymous');
  }
  if (config.tokensFile && !config.htpasswd) throw new ConfigError('--tokens needs --htpasswd: tokens sign in next to the users of the htpasswd file');
  if (config.tokensUsageFile && !config.tokensFile) throw new ConfigError('--tokens-usage needs --tokens: it records when each CI token last signed in');
  checkMirrors(config.mirrors, config.mirrorDefault);
  if (config.mirrors.length > 0 && config.readOnly) throw new ConfigError('--mirror needs a writable registry: it stores what it fetches (drop --read-only)');
  if (config.mirrorTimeoutMs <= 0) throw new ConfigError('the mirror timeout must be positive');
  if (config.metricsListen && config.metricsListen.port !== 0 && config.metricsListen.port === config.port && config.metricsListen.host === config.host) {
    throw new ConfigError('--metrics-listen must differ from the registry\'s own address: metrics are served on a separate listener');
  }
  if (config.uploadPurgeIntervalMs <= 0) throw new ConfigError('the upload purge interval must be positive');
  return config;
}
