// A private ACME CA for tests: Debian's pebble + pebble-challtestsrv on free loopback ports.
// - pebble-challtestsrv is only a DNS server here: every name resolves to 127.0.0.1 (or defaultIPv4), no AAAA.
// - pebble validates HTTP-01 by connecting to 127.0.0.1:<httpPort>, so each test serves its webroot
//   on that port (startWebrootServer).
// - pebble's own HTTPS listener uses a throwaway self-signed certificate made here; `caPem` is what a
//   client must trust to talk to it. `rootPem` is the root that issued certificates chain to (pebble
//   makes a new one at every start).
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join, normalize, sep } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './net.js';
import { startProcess, type ManagedProcess } from './process.js';
import { makeTempDir, removeDir } from './tmp.js';

const execFileAsync = promisify(execFile);

export const PEBBLE_BINARY = '/usr/bin/pebble';
export const CHALLTESTSRV_BINARY = '/usr/bin/pebble-challtestsrv';

const START_TIMEOUT_MS = 20_000;

export interface PebbleOptions {
  /** where pebble connects for HTTP-01 validation (127.0.0.1:<httpPort>); a free port when absent */
  httpPort?: number;
  /** `certificateValidityPeriod` in seconds (pebble's default is 5 years) */
  certificateValidityPeriod?: number;
  /** extra environment for pebble (PEBBLE_AUTHZREUSE, ...) */
  env?: NodeJS.ProcessEnv;
  /** more addresses its HTTPS certificate is valid for (e.g. docker0's, where a forwarder listens) */
  extraAddresses?: string[];
  /** what pebble-challtestsrv answers for every name (default 127.0.0.1): where validation connects */
  defaultIPv4?: string;
  /** where pebble-challtestsrv's DNS server listens (default 127.0.0.1 and a free port), e.g. a
   * bridge's gateway and port 53 so a host on that bridge can use it as its resolver */
  dnsListen?: { host: string; port: number };
}

export interface RunningPebble {
  /** https://127.0.0.1:<port>/dir */
  directoryUrl: string;
  /** the self-signed certificate of pebble's HTTPS listener (trust it to talk to pebble) */
  caPem: string;
  /** root certificate of pebble's issuing CA, fetched from the management API */
  rootPem: string;
  /** intermediate that signs leaf certificates */
  intermediatePem: string;
  /** https://127.0.0.1:<port> (pebble's management API) */
  managementUrl: string;
  /** port that HTTP-01 validation connects to on 127.0.0.1 */
  httpPort: number;
  /** pebble-challtestsrv's DNS server (<host>:<port>, UDP and TCP; 127.0.0.1 unless dnsListen) */
  dnsAddress: string;
  /** GET on pebble's management API (trusting caPem) */
  management(path: string): Promise<{ status: number; body: string }>;
  /** number of orders pebble has created since it started (from its complete log file) */
  orderCount(): number;
  logTail(n?: number): string;
  stop(): Promise<void>;
}

/** A self-signed P-256 certificate for localhost / 127.0.0.1 (and `extraAddresses`) made with openssl. */
export async function makeLocalhostCert(dir: string, extraAddresses: string[] = []): Promise<{ certFile: string; keyFile: string; certPem: string }> {
  const certFile = join(dir, 'listener-cert.pem');
  const keyFile = join(dir, 'listener-key.pem');
  await execFileAsync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '2', '-subj', '/CN=localhost',
    '-addext', `subjectAltName=${['DNS:localhost', 'IP:127.0.0.1', ...extraAddresses.map((a) => `IP:${a}`)].join(',')}`,
    '-keyout', keyFile, '-out', certFile,
  ]);
  return { certFile, keyFile, certPem: await readFile(certFile, 'utf8') };
}

/** One GET over HTTPS trusting exactly `ca`; never throws for HTTP statuses. */
export function httpsGet(url: string, ca: string, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

async function pollUntil(what: string, timeoutMs: number, proc: ManagedProcess, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    if (proc.hasExited()) throw new Error(`${proc.name} exited while waiting for ${what}\n${proc.logTail()}`);
    try {
      if (await probe()) return;
      last = 'not ready';
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})\n${proc.logTail()}`);
    await delay(50);
  }
}

const portInUse = (proc: ManagedProcess): boolean => /address already in use/i.test(proc.logTail(200));

async function startChalltestsrv(opts: PebbleOptions): Promise<{ proc: ManagedProcess; dnsAddress: string }> {
  const answer = opts.defaultIPv4 ?? '127.0.0.1';
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const dnsHost = opts.dnsListen?.host ?? '127.0.0.1';
    const dnsPort = opts.dnsListen?.port ?? (await freePort());
    const mgmtPort = await freePort();
    const proc = startProcess(
      CHALLTESTSRV_BINARY,
      [
        '-defaultIPv4', answer, '-defaultIPv6', '',
        '-dns01', `${dnsHost}:${dnsPort}`,
        '-http01', '', '-https01', '', '-tlsalpn01', '',
        '-management', `127.0.0.1:${mgmtPort}`,
      ],
      { name: 'pebble-challtestsrv' },
    );
    try {
      // ready when its DNS server answers: every name is `answer`
      const resolver = new Resolver({ timeout: 500, tries: 1 });
      resolver.setServers([`${dnsHost}:${dnsPort}`]);
      await pollUntil('pebble-challtestsrv DNS', START_TIMEOUT_MS, proc, async () => {
        const addrs = await resolver.resolve4('readiness-probe.test');
        return addrs.includes(answer);
      });
      return { proc, dnsAddress: `${dnsHost}:${dnsPort}` };
    } catch (e) {
      await proc.stop(2_000).catch(() => undefined);
      lastError = e;
      if (!portInUse(proc) || opts.dnsListen) break;
    }
  }
  throw lastError;
}

/** Starts pebble-challtestsrv (DNS) and pebble; resolves once pebble's directory and roots answer. */
export async function startPebble(opts: PebbleOptions = {}): Promise<RunningPebble> {
  const dir = await makeTempDir('rs-pebble-');
  let dns: { proc: ManagedProcess; dnsAddress: string } | undefined;
  try {
    const listener = await makeLocalhostCert(dir, opts.extraAddresses);
    dns = await startChalltestsrv(opts);
    const httpPort = opts.httpPort ?? (await freePort());
    let lastError: unknown;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const port = await freePort();
      const mgmtPort = await freePort();
      const tlsPort = await freePort();
      const config: Record<string, unknown> = {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: listener.certFile,
        privateKey: listener.keyFile,
        httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      };
      if (opts.certificateValidityPeriod !== undefined) config.certificateValidityPeriod = opts.certificateValidityPeriod;
      const configFile = join(dir, `pebble-config-${attempt}.json`);
      await writeFile(configFile, JSON.stringify({ pebble: config }, null, 2));
      const logFile = join(dir, `pebble-${attempt}.log`);
      const proc = startProcess(PEBBLE_BINARY, ['-config', configFile, '-dnsserver', dns.dnsAddress, '-strict=false'], {
        name: 'pebble',
        logFile,
        env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', ...opts.env },
      });
      const directoryUrl = `https://127.0.0.1:${port}/dir`;
      const managementUrl = `https://127.0.0.1:${mgmtPort}`;
      try {
        await pollUntil('pebble directory', START_TIMEOUT_MS, proc, async () => (await httpsGet(directoryUrl, listener.certPem)).status === 200);
        let rootPem = '';
        let intermediatePem = '';
        await pollUntil('pebble management API', START_TIMEOUT_MS, proc, async () => {
          const root = await httpsGet(`${managementUrl}/roots/0`, listener.certPem);
          const inter = await httpsGet(`${managementUrl}/intermediates/0`, listener.certPem);
          rootPem = root.body;
          intermediatePem = inter.body;
          return root.status === 200 && inter.status === 200;
        });
        const challtestsrv = dns.proc;
        return {
          directoryUrl,
          caPem: listener.certPem,
          rootPem,
          intermediatePem,
          managementUrl,
          httpPort,
          dnsAddress: dns.dnsAddress,
          management: (path) => httpsGet(`${managementUrl}${path}`, listener.certPem),
          // pebble logs "There are now <n> orders in the db" after creating each order
          orderCount: () => {
            let n = 0;
            for (const m of readFileSync(logFile, 'utf8').matchAll(/There are now (\d+) orders in the db/g)) n = Math.max(n, Number(m[1]));
            return n;
          },
          logTail: (n = 60) => `${proc.logTail(n)}\n${challtestsrv.logTail(Math.min(n, 20))}`,
          async stop() {
            await proc.stop(5_000).catch(() => undefined);
            await challtestsrv.stop(5_000).catch(() => undefined);
            await removeDir(dir);
          },
        };
      } catch (e) {
        await proc.stop(2_000).catch(() => undefined);
        lastError = e;
        if (!portInUse(proc)) break;
      }
    }
    throw lastError;
  } catch (e) {
    await dns?.proc.stop(2_000).catch(() => undefined);
    await removeDir(dir);
    throw e;
  }
}

export interface WebrootServer {
  port: number;
  /** false: answer 404 for everything (a server that does not serve the webroot); settable */
  serveFiles: boolean;
  /** paths requested, in order */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Serves `<webroot>/.well-known/acme-challenge/<token>` as text/plain on 127.0.0.1:<port> (like
 * nginx's `location ^~ /.well-known/acme-challenge/ { root <webroot>; }`); 404 for anything else.
 * With `serveFiles: false` it answers 404 for every path (a server that does not serve the webroot).
 */
export function startWebrootServer(webroot: string, port: number, opts: { serveFiles?: boolean } = {}): Promise<WebrootServer> {
  const prefix = '/.well-known/acme-challenge/';
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    handle.requests.push(path);
    const notFound = (): void => {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    };
    if (!handle.serveFiles || !path.startsWith(prefix)) return notFound();
    const file = normalize(join(webroot, decodeURIComponent(path)));
    if (!file.startsWith(normalize(webroot) + sep)) return notFound();
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': 'text/plain' }).end(body),
      () => notFound(),
    );
  });
  const handle: WebrootServer = {
    port,
    serveFiles: opts.serveFiles !== false,
    requests: [],
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(handle);
    });
  });
}
