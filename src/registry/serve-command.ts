import { Command, Option } from 'commander';
import { ConfigError, DEFAULT_CONFIG, configFromEnv, parseDuration, parsePort, readSecretFile, validateConfig, type RegistryConfig } from './config.js';
import { parseStorageUrl } from './storage/s3/settings.js';
import { HtpasswdError } from './auth/htpasswd.js';
import { AccessPolicyError } from './auth/access-policy.js';
import { CiTokenError } from './auth/ci-tokens.js';
import { startRegistry } from './server.js';

interface ServeFlags {
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
  if (flags.uploadMaxAge !== undefined) config.uploadMaxAgeMs = parseDuration(flags.uploadMaxAge, '--upload-max-age');
  if (flags.uploadPurgeInterval !== undefined) config.uploadPurgeIntervalMs = parseDuration(flags.uploadPurgeInterval, '--upload-purge-interval');
  return validateConfig(config);
}

/** `serve`: shared by the CLI and the image payload so both behave identically. */
export function serveCommand(): Command {
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
    .option('--realm <name>', `realm shown to clients (default "${DEFAULT_CONFIG.realm}")`)
    .option('--tls-cert <file>', 'serve HTTPS with this certificate chain (PEM)')
    .option('--tls-key <file>', 'private key for --tls-cert (PEM)')
    .option('--read-only', 'refuse pushes and deletes')
    .option('--no-delete', 'refuse deletes of tags, manifests and blobs')
    .option('--no-ui', 'do not serve the web UI at / (or REGISTRY_UI_ENABLED=false)')
    .addOption(new Option('--upload-max-age <duration>', 'purge uploads older than this (default 168h)'))
    .addOption(new Option('--upload-purge-interval <duration>', 'how often to look for abandoned uploads (default 24h)'))
    .action(async (flags: ServeFlags) => {
      await serve(configFromFlags(flags, process.env));
    });
}

async function serve(config: RegistryConfig): Promise<void> {
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const running = await startRegistry(config, log);
  const auth = config.htpasswd ? `htpasswd ${config.htpasswd}${config.accessFile ? `, access ${config.accessFile}` : ''}${config.tokensFile ? `, tokens ${config.tokensFile}` : ''}` : 'no auth';
  process.stdout.write(`registry listening on ${running.url} (data ${running.registry.driver.describe()}, ${auth})\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: finishing in-flight requests`);
    void running.close().then(() => {
      log('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
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
