// What a bare host reaches on its network's gateway address, in place of the internet:
// - a test CA and one server certificate for `download.docker.com` and the gateway address;
// - an HTTP forward proxy that only lets through deb.debian.org (the outer engine runs with
//   --iptables=false, so containers have no NAT to the mirror);
// - the stand-in of Docker's apt repository over HTTPS on <gateway>:443;
// - a Docker Hub mirror (distribution) over HTTPS holding the stand-in base images under their
//   Docker Hub names.
import { createReadStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { run } from '../exec.js';
import { httpsGet } from '../pebble.js';
import { startProcess, type ManagedProcess } from '../process.js';

export interface TestCa {
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

/** A CA and one server certificate signed by it for the given DNS names and IP addresses. */
export async function makeTestCa(dir: string, names: string[], addresses: string[]): Promise<TestCa> {
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-days', '2', '-subj', '/CN=registry-setup bare-host test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', caKey, '-out', caFile]);
  await run('openssl', ['req', ...ec, '-subj', `/CN=${names[0] ?? addresses[0]}`, '-keyout', keyFile, '-out', csr]);
  const san = [...names.map((n) => `DNS:${n}`), ...addresses.map((a) => `IP:${a}`)].join(',');
  await writeFile(ext, `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', certFile]);
  return { caFile, caPem: await readFile(caFile, 'utf8'), certFile, keyFile, certPem: await readFile(certFile, 'utf8'), keyPem: await readFile(keyFile, 'utf8') };
}

export interface Server {
  url: string;
  port: number;
  /** lines describing requests refused or failed, for failure messages */
  problems: string[];
  close(): Promise<void>;
}

function listen(server: http.Server | https.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closer(server: http.Server | https.Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

/**
 * An HTTP forward proxy on host:<free port> for plain-HTTP requests to the allowed host names only;
 * anything else (CONNECT included) gets 403.
 */
export async function startAptProxy(host: string, allowed: readonly string[]): Promise<Server> {
  const problems: string[] = [];
  const server = http.createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute URL expected\n');
      return;
    }
    if (target.protocol !== 'http:' || !allowed.includes(target.hostname)) {
      problems.push(`refused ${req.method} ${req.url}`);
      res.writeHead(403).end(`only ${allowed.join(', ')} is reachable through this proxy\n`);
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    const upstream = http.request({ host: target.hostname, port: target.port || 80, path: `${target.pathname}${target.search}`, method: req.method, headers, timeout: 60_000 }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timeout')));
    upstream.on('error', (e) => {
      problems.push(`${req.url}: ${e.message}`);
      if (!res.headersSent) res.writeHead(502).end(`${e.message}\n`);
      else res.destroy();
    });
    req.pipe(upstream);
  });
  server.on('connect', (req, socket) => {
    problems.push(`refused CONNECT ${req.url}`);
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  const port = await listen(server, host, 0);
  return { url: `http://${host}:${port}`, port, problems, close: closer(server) };
}

/** Serves the files under `root` over HTTPS on host:port (GET and HEAD); 404 for anything else. */
export async function startStaticHttps(host: string, port: number, root: string, tls: { certPem: string; keyPem: string }): Promise<Server> {
  const problems: string[] = [];
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const file = normalize(join(root, path));
    const notFound = () => {
      problems.push(`404 ${req.method} ${path}`);
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    };
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !file.startsWith(normalize(root) + sep)) return notFound();
    stat(file).then(
      (st) => {
        if (!st.isFile()) return notFound();
        res.writeHead(200, { 'content-length': st.size, 'last-modified': st.mtime.toUTCString(), 'content-type': 'application/octet-stream' });
        if (req.method === 'HEAD') return res.end();
        createReadStream(file).pipe(res);
      },
      () => notFound(),
    );
  });
  const bound = await listen(server, host, port);
  return { url: `https://${host}:${bound}`, port: bound, problems, close: closer(server) };
}

export interface Mirror {
  /** https://<host>:<port> */
  url: string;
  /** <host>:<port>, the registry part of an image reference */
  address: string;
  logTail(n?: number): string;
  stop(): Promise<void>;
}

/** distribution 2.8 over HTTPS on host:<port>, storing in dataDir. */
export async function startMirror(host: string, dir: string, tls: TestCa): Promise<Mirror> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    // a free port on the gateway address: bind :0 there, release, let distribution bind it
    const probe = http.createServer();
    const port = await listen(probe, host, 0);
    await closer(probe)();
    const config = join(dir, `mirror-${attempt}.yml`);
    await writeFile(
      config,
      [
        'version: 0.1',
        'log: { level: warn }',
        `storage: { filesystem: { rootdirectory: ${JSON.stringify(join(dir, 'data'))} }, delete: { enabled: true } }`,
        `http: { addr: "${host}:${port}", secret: bare-host-mirror, tls: { certificate: ${JSON.stringify(tls.certFile)}, key: ${JSON.stringify(tls.keyFile)} } }`,
        '',
      ].join('\n'),
    );
    const proc: ManagedProcess = startProcess('/usr/bin/docker-registry', ['serve', config], { name: 'bare-host mirror' });
    const url = `https://${host}:${port}`;
    const deadline = Date.now() + 20_000;
    let ok = false;
    while (!proc.hasExited() && Date.now() < deadline) {
      try {
        if ((await httpsGet(`${url}/v2/`, tls.caPem)).status === 200) {
          ok = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await delay(100);
    }
    if (ok) return { url, address: `${host}:${port}`, logTail: (n = 30) => proc.logTail(n), stop: async () => void (await proc.stop(5_000)) };
    await proc.stop(2_000).catch(() => undefined);
    lastError = new Error(`the Docker Hub mirror did not answer on ${url}/v2/ within 20 s:\n${proc.logTail()}`);
    if (!/address already in use/.test(proc.logTail())) break;
  }
  throw lastError;
}

/** Copies an image of the local engine into the mirror under a Docker Hub name (`library/…`). */
export async function pushToMirror(mirror: Mirror, caDir: string, localImage: string, hubName: string): Promise<void> {
  const name = hubName.includes('/') ? hubName : `library/${hubName}`;
  await run('skopeo', ['--insecure-policy', 'copy', '--dest-cert-dir', caDir, `docker-daemon:${localImage}`, `docker://${mirror.address}/${name}`], { timeoutMs: 300_000 });
}
