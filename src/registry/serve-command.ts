import { Command, Option } from 'commander';
import { ConfigError, DEFAULT_CONFIG, configFromEnv, parseDuration, parseListenAddress, parsePort, readSecretFile, validateConfig, type RegistryConfig } from './config.js';
import { parseStorageUrl } from './storage/s3/settings.js';
import { attachCredentials, parseMirror, parseMirrorPrefix } from './mirror/settings.js';
import { HtpasswdError } from './auth/htpasswd.js';
import { AccessPolicyError } from './auth/access-policy.js';
import { CiTokenError } from './auth/ci-tokens.js';

export interface ServeFlags {
  host?: string;
  port?: string;
  data?: string;
  htpasswd?: string;
  access?: string;
  tokens?: string;
  tokensUsage?: string;
  realm?: string;
  tlsCert?: string;
  tlsKey?: string;
  readOnly?: boolean;
  delete?: boolean;
  uploadMaxAge?: string;
  uploadPurgeInterval?: string;
  ui?: boolean;
  storage?: string;
  s3Credentials?: string;
  s3Redirect?: boolean;
  uploadSecretFile?: string;
  mirror?: string[];
  mirrorCredentials?: string[];
  mirrorDefault?: string;
  mirrorTagTtl?: string;
  mirrorTimeout?: string;
  trustProxy?: boolean;
  accessLog?: boolean;
  metricsListen?: string;
  stateDir?: string;
  notify?: string[];
  notifyConfig?: string;
  eventsDir?: string;
}

/** Flags win over distribution's REGISTRY_* variables, which win over the defaults. */
export function configFromFlags(flags: ServeFlags, env: NodeJS.ProcessEnv): RegistryConfig {
  const config: RegistryConfig = { ...DEFAULT_CONFIG, ...configFromEnv(env) };
  if (flags.host !== undefined) {
    // an empty value (an unset variable) would listen on every interface
    if (!flags.host.trim()) throw new ConfigError('--host is empty: give an address (0.0.0.0 listens on every interface)');
    config.host = flags.host.trim();
  }
  if (flags.port !== undefined) config.port = parsePort(flags.port, '--port');
  if (flags.data !== undefined) {
    if (!flags.data.trim()) throw new ConfigError('--data is empty: give the data directory');
    config.dataDir = flags.data;
  }
  if (flags.htpasswd !== undefined) config.htpasswd = flags.htpasswd;
  if (flags.access !== undefined) {
    if (!flags.access.trim()) throw new ConfigError('--access is empty: give the access policy file');
    config.accessFile = flags.access;
  }
  if (flags.tokens !== undefined) {
    if (!flags.tokens.trim()) throw new ConfigError('--tokens is empty: give the CI tokens file');
    config.tokensFile = flags.tokens;
  }
  if (flags.tokensUsage !== undefined) config.tokensUsageFile = flags.tokensUsage;
  if (flags.realm !== undefined) config.realm = flags.realm;
  if (flags.tlsCert !== undefined) config.tlsCert = flags.tlsCert;
  if (flags.tlsKey !== undefined) config.tlsKey = flags.tlsKey;
  if (flags.readOnly) config.readOnly = true;
  if (flags.delete === false) config.deleteEnabled = false;
  if (flags.ui === false) config.ui = false;
  if (flags.storage !== undefined) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(flags.storage)) config.s3 = parseStorageUrl(flags.storage);
    else {
      if (!flags.storage.trim()) throw new ConfigError('--storage is empty: give a data directory or an s3:// URL');
      config.dataDir = flags.storage;
      config.s3 = undefined;
    }
  }
  if (flags.s3Credentials !== undefined) config.s3CredentialsFile = flags.s3Credentials;
  if (flags.s3Redirect) {
    if (!config.s3) throw new ConfigError('--s3-redirect needs --storage s3://…');
    config.s3 = { ...config.s3, redirect: true };
  }
  if (flags.uploadSecretFile !== undefined) config.uploadSecret = readSecretFile(flags.uploadSecretFile, '--upload-secret-file');
  if (config.s3CredentialsFile && !config.s3) throw new ConfigError('--s3-credentials needs --storage s3://…');
  if (flags.mirror && flags.mirror.length > 0) config.mirrors = flags.mirror.map((m) => parseMirror(m, '--mirror'));
  if (flags.mirrorCredentials && flags.mirrorCredentials.length > 0) config.mirrors = attachCredentials(config.mirrors, flags.mirrorCredentials, '--mirror-credentials');
  if (flags.mirrorDefault !== undefined) config.mirrorDefault = parseMirrorPrefix(flags.mirrorDefault, '--mirror-default');
  if (flags.mirrorTagTtl !== undefined) config.mirrorTagTtlMs = parseDuration(flags.mirrorTagTtl, '--mirror-tag-ttl');
  if (flags.mirrorTimeout !== undefined) config.mirrorTimeoutMs = parseDuration(flags.mirrorTimeout, '--mirror-timeout');
  if (flags.trustProxy) config.trustProxy = true;
  if (flags.accessLog === false) config.accessLog = false;
  if (flags.metricsListen !== undefined) config.metricsListen = parseListenAddress(flags.metricsListen, '--metrics-listen');
  if (flags.stateDir !== undefined) config.stateDir = flags.stateDir;
  if (flags.notify !== undefined) config.notify = [...config.notify, ...flags.notify];
  if (flags.notifyConfig !== undefined) config.notifyConfig = flags.notifyConfig;
  if (flags.eventsDir !== undefined) config.eventsDir = flags.eventsDir;
  if (flags.uploadMaxAge !== undefined) config.uploadMaxAgeMs = parseDuration(flags.uploadMaxAge, '--upload-max-age');
  if (flags.uploadPurgeInterval !== undefined) config.uploadPurgeIntervalMs = parseDuration(flags.uploadPurgeInterval, '--upload-purge-interval');
  return validateConfig(config);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * `serve`: its flags and help, shared by the CLI and the image payload so both behave identically.
 * The payload runs the registry (src/registry/serve-run.ts); the CLI hands the flags to the payload
 * bundle in a child process, so that this module must stay free of the server and its storage
 * drivers (the S3 SDK among them).
 */
export function serveCommand(run: (flags: ServeFlags, command: Command) => Promise<void>): Command {
  return new Command('serve')
    .description('run the registry in the foreground (no Docker needed)')
    .option('--host <addr>', `address to listen on (default ${DEFAULT_CONFIG.host}, or REGISTRY_HTTP_ADDR)`)
    .option('--port <port>', `port to listen on, 0 for any free port (default ${DEFAULT_CONFIG.port})`)
    .option('--data <dir>', `data directory in registry:2 layout (default ${DEFAULT_CONFIG.dataDir})`)
    .option('--storage <url>', 'keep the data in a bucket: s3://bucket/prefix?endpoint=https://…&region=… (or a data directory)')
    .option('--s3-credentials <file>', 'file with access_key_id = … and secret_access_key = … lines, or - for stdin')
    .option('--s3-redirect', 'answer blob downloads with a redirect to a presigned URL of the bucket')
    .option('--upload-secret-file <file>', 'shared secret that signs upload URLs, so replicas can continue each other\'s uploads')
    .option('--htpasswd <file>', 'require these users (bcrypt htpasswd file; re-read when it changes)')
    .option('--access <file>', 'who may do what: repository globs, users, groups, actions (zot accessControl YAML; re-read when it changes)')
    .option('--tokens <file>', 'CI tokens: hashed secrets with repository scopes and expiry, used as passwords (re-read when it changes)')
    .option('--tokens-usage <file>', 'record in this JSON file when each CI token last signed in (written every minute)')
    .option('--mirror <prefix=url>', 'serve an upstream registry read-only under a name prefix, e.g. docker.io=https://registry-1.docker.io (repeatable; or REGISTRY_MIRRORS)', collect, [])
    .option('--mirror-credentials <prefix=file>', 'upstream credentials for a mirror: a file with username = … and password = … lines (repeatable)', collect, [])
    .option('--mirror-default <prefix>', 'also answer unprefixed names that are no local repository from this mirror (Docker\'s registry-mirrors)')
    .option('--mirror-tag-ttl <duration>', 'check a cached tag upstream when it is older than this (default 5m)')
    .option('--mirror-timeout <duration>', 'give up on an upstream that does not connect or send a byte for this long (default 30s)')
    .option('--realm <name>', `realm shown to clients (default "${DEFAULT_CONFIG.realm}")`)
    .option('--tls-cert <file>', 'serve HTTPS with this certificate chain (PEM)')
    .option('--tls-key <file>', 'private key for --tls-cert (PEM)')
    .option('--read-only', 'refuse pushes and deletes')
    .option('--no-delete', 'refuse deletes of tags, manifests and blobs')
    .option('--trust-proxy', 'take the client address in access logs from X-Real-IP / X-Forwarded-For (behind nginx; or REGISTRY_HTTP_TRUSTPROXY=true)')
    .option('--no-access-log', 'do not write one JSON line per request on stdout (or REGISTRY_LOG_ACCESSLOG_DISABLED=true)')
    .option('--metrics-listen <host:port>', 'serve Prometheus metrics at /metrics on this separate address, e.g. 127.0.0.1:5001 (or REGISTRY_METRICS_ADDR)')
    .option('--state-dir <dir>', 'where gc, retention and renewal record their last results, shown in metrics (or REGISTRY_STATE_DIRECTORY)')
    .option('--notify <url>', 'POST distribution\'s notification envelopes on manifest push, pull and delete to this URL (repeatable; or REGISTRY_NOTIFICATIONS_URLS)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--notify-config <file>', 'webhook endpoints with headers, event filters, timeouts and HMAC secret files (YAML or JSON; or REGISTRY_NOTIFICATIONS_CONFIG)')
    .option('--events-dir <dir>', 'where undelivered events wait, surviving restarts (default <data>/_events; or REGISTRY_NOTIFICATIONS_DIRECTORY)')
    .option('--no-ui', 'do not serve the web UI at / (or REGISTRY_UI_ENABLED=false)')
    .addOption(new Option('--upload-max-age <duration>', 'purge uploads older than this (default 168h)'))
    .addOption(new Option('--upload-purge-interval <duration>', 'how often to look for abandoned uploads (default 24h)'))
    .action(run);
}

/**
 * Lines gathered over one turn of the event loop and written together: a write to a pipe is a
 * system call, and busy registries finish many small requests per turn.
 */
export function batchedLines(write: (text: string) => void): ((line: string) => void) & { flush(): void } {
  let pending: string[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const text = `${pending.join('\n')}\n`;
    pending = [];
    write(text);
  };
  return Object.assign((line: string) => {
    if (pending.push(line) === 1) setImmediate(flush);
  }, { flush });
}

/** One line for the errors a user can fix (bad flags, bad htpasswd, port in use); a stack for bugs. */
export function describeStartupError(err: unknown): string | null {
  if (err instanceof ConfigError || err instanceof HtpasswdError || err instanceof AccessPolicyError || err instanceof CiTokenError) return err.message;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  if (e.code === 'EADDRINUSE') return `address ${e.address}:${e.port} is already in use; pick another with --port`;
  if (e.code === 'EACCES' && e.syscall === 'listen') return `no permission to listen on port ${e.port}; use a port above 1023 or run as root`;
  if (e.code === 'ENOTFOUND' && e.syscall === 'getaddrinfo') return `cannot listen on ${e.hostname ?? 'that address'}: no such address; check --host`;
  if (e.code === 'EADDRNOTAVAIL' && e.syscall === 'listen') return `cannot listen on ${e.address}: not an address of this machine; check --host`;
  if (e.code === 'ENOENT' && e.path) return `${e.path}: no such file`;
  if (e.code === 'EACCES' && e.path) return `${e.path}: permission denied`;
  return null;
}
