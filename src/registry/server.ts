import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { ConfigError, type RegistryConfig } from './config.js';
import { HtpasswdAuth } from './auth/htpasswd.js';
import { openAccessPolicy, openCiTokens } from './auth/access-file.js';
import { TokenUsage } from './auth/token-usage.js';
import { openStorage } from './storage/open.js';
import { Registry } from './registry.js';
import { createHandler } from './http/router.js';

const IDLE_SOCKET_MS = 15 * 60_000;

export interface RunningRegistry {
  registry: Registry;
  server: http.Server;
  url: string;
  port: number;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), then resolves. */
  close(): Promise<void>;
}

export async function startRegistry(config: RegistryConfig, log: (line: string) => void = () => {}): Promise<RunningRegistry> {
  const auth = config.htpasswd
    ? await HtpasswdAuth.open(config.htpasswd, {
        onReload: (users) => log(`htpasswd reloaded: ${users} user(s)`),
        onError: (err) => log(`htpasswd not reloaded, keeping the previous users: ${err.message}`),
        onMissing: () => log(`htpasswd file ${config.htpasswd} is missing: every sign-in is refused until it is back`),
        onThrottle: (user, waitMs) => log(`auth: repeated failed sign-ins for user ${JSON.stringify(user.slice(0, 64))}; it waits ${Math.ceil(waitMs / 1000)} s before the next try`),
      })
    : undefined;
  const access = config.accessFile ? await openAccessPolicy(config.accessFile, log) : undefined;
  const ciTokens = config.tokensFile ? await openCiTokens(config.tokensFile, log) : undefined;
  const tokenUsage = config.tokensUsageFile ? await TokenUsage.open(config.tokensUsageFile, log) : undefined;
  const driver = await openStorage(config);
  await driver.check?.({ writable: !config.readOnly });
  const registry = new Registry(config, driver, auth, access, ciTokens, tokenUsage);
  const handler = createHandler(registry, log);
  const tls = loadTls(config);
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  // Layer uploads can take as long as they take; idle keep-alive sockets still time out.
  server.requestTimeout = 0;
  // ...but a connection that moves no byte for 15 minutes (nginx's proxy timeouts are as long) is
  // a client that is gone: its half-sent upload must not hold its session forever
  server.timeout = IDLE_SOCKET_MS;
  server.keepAliveTimeout = 75_000;
  server.headersTimeout = 80_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  let purging = false;
  const purge = async () => {
    if (purging) return; // a slow run is not joined by the next one
    purging = true;
    try {
      const n = await registry.uploads.purge(config.uploadMaxAgeMs, await registry.manifests.repositoriesWithUploads());
      if (n > 0) log(`purged ${n} abandoned upload(s)`);
    } catch (err) {
      log(`upload purge failed: ${(err as Error).message}`);
    } finally {
      purging = false;
    }
  };
  const purgeTimer = setInterval(() => void purge(), config.uploadPurgeIntervalMs);
  purgeTimer.unref();
  const firstPurge = setTimeout(() => void purge(), Math.min(config.uploadPurgeIntervalMs, 60_000));
  firstPurge.unref();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      clearInterval(purgeTimer);
      clearTimeout(firstPurge);
      auth?.close();
      access?.close();
      ciTokens?.close();
      const force = setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs);
      force.unref();
      server.close(() => {
        clearTimeout(force);
        // Handlers of connections cut by the grace period are still removing their temp files.
        void handlersFinished(registry, CLEANUP_WAIT_MS)
          .then(() => tokenUsage?.close())
          .then(() => {
            driver.close?.();
            resolve();
          });
      });
      server.closeIdleConnections();
    });
    return closing;
  };
  return { registry, server, url: `${tls ? 'https' : 'http'}://${host}:${port}`, port, close };
}

const CLEANUP_WAIT_MS = 5_000;

/** Resolves when no request handler is running, or after `withinMs`. */
async function handlersFinished(registry: Registry, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (registry.requests.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** The certificate and key, checked to be PEM and to belong together, with a line that says which is wrong. */
function loadTls(config: RegistryConfig): { cert: Buffer; key: Buffer } | undefined {
  if (!config.tlsCert || !config.tlsKey) return undefined;
  const pair = { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) };
  try {
    createSecureContext(pair);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const files = `--tls-cert ${config.tlsCert} / --tls-key ${config.tlsKey}`;
    if (code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH') throw new ConfigError(`${files}: the key does not belong to the certificate`);
    if (/PEM|NO_START_LINE|BAD_BASE64|DECODE/i.test(code)) throw new ConfigError(`${files}: not a PEM certificate and its PEM private key (were the two swapped?)`);
    throw new ConfigError(`${files}: ${(err as Error).message}`);
  }
  return pair;
}
