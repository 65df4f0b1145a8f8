import { readFileSync } from 'node:fs';
import { parseStorageUrl, type S3Settings } from './storage/s3/settings.js';
import { ConfigError } from './config-error.js';
import { REGISTRY_ENV } from '../host/contract.js';

export { ConfigError };

/** Everything the registry server needs to run; built from flags and distribution's environment variables. */
export interface RegistryConfig {
  host: string;
  port: number;
  dataDir: string;
  htpasswd?: string;
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

/** distribution's `REGISTRY_*` variables, so a registry:2 compose file works unchanged. */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<RegistryConfig> {
  // the variables by their names in the host contract (the names compose.yaml sets)
  const vars = Object.fromEntries(Object.entries(REGISTRY_ENV).map(([key, name]) => [key, env[name]])) as Partial<Record<keyof typeof REGISTRY_ENV, string>>;
  const out: Partial<RegistryConfig> = {};
  const addr = vars.httpAddr;
  if (addr) {
    const i = addr.lastIndexOf(':');
    if (i < 0) throw new ConfigError(`REGISTRY_HTTP_ADDR: "${addr}" is not host:port`);
    out.host = addr.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
    out.port = parsePort(addr.slice(i + 1), 'REGISTRY_HTTP_ADDR');
  }
  if (vars.storageFilesystemRoot) out.dataDir = vars.storageFilesystemRoot;
  if (vars.auth !== undefined && vars.auth !== '') {
    if (vars.auth !== 'htpasswd') throw new ConfigError(`REGISTRY_AUTH: only "htpasswd" is supported, not "${vars.auth}"`);
    if (!vars.authHtpasswdPath) throw new ConfigError('REGISTRY_AUTH=htpasswd needs REGISTRY_AUTH_HTPASSWD_PATH');
  }
  if (vars.authHtpasswdPath) out.htpasswd = vars.authHtpasswdPath;
  if (vars.authHtpasswdRealm) out.realm = vars.authHtpasswdRealm;
  if (vars.storageDeleteEnabled) out.deleteEnabled = parseBool(vars.storageDeleteEnabled, 'REGISTRY_STORAGE_DELETE_ENABLED');
  if (vars.httpTlsCertificate) out.tlsCert = vars.httpTlsCertificate;
  if (vars.httpTlsKey) out.tlsKey = vars.httpTlsKey;
  if (vars.storageReadOnly) {
    out.readOnly = parseBool(vars.storageReadOnly, 'REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED');
  }
  if (vars.storageUrl) out.s3 = parseStorageUrl(vars.storageUrl);
  if (vars.storageS3CredentialsFile) out.s3CredentialsFile = vars.storageS3CredentialsFile;
  if (vars.httpSecret) out.uploadSecret = vars.httpSecret;
  if (vars.httpSecretFile) out.uploadSecret = readSecretFile(vars.httpSecretFile, 'REGISTRY_HTTP_SECRETFILE');
  if (vars.uiEnabled) out.ui = parseBool(vars.uiEnabled, 'REGISTRY_UI_ENABLED');
  if (vars.httpAccelRedirect) out.accelRedirect = parseAccelPrefix(vars.httpAccelRedirect, 'REGISTRY_HTTP_ACCELREDIRECT');
  const age = vars.uploadPurgingAge;
  if (age) out.uploadMaxAgeMs = parseDuration(age, 'REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE');
  const interval = vars.uploadPurgingInterval;
  if (interval) out.uploadPurgeIntervalMs = parseDuration(interval, 'REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_INTERVAL');
  return out;
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
  if (config.uploadPurgeIntervalMs <= 0) throw new ConfigError('the upload purge interval must be positive');
  return config;
}
