// The deployed nginx.conf with a real nginx (Debian's) in front of our registry over TLS: blob GETs
// are decided by the registry and sent by nginx from the data directory (X-Accel-Redirect), with the
// registry's headers; Range, HEAD, auth and unknown blobs behave as before; clients cannot reach the
// internal location; and nginx keeps its connections to the registry open between requests.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { selfSignedOpensslArgv } from '../../src/provision/index.js';
import { BLOB_BYTES_LOCATION, buildNginxConf } from '../../src/templates/render.js';
import { run } from '../helpers/exec.js';
import { writeHtpasswd } from '../helpers/htpasswd.js';
import { freePort } from '../helpers/net.js';
import { startProcess, type ManagedProcess } from '../helpers/process.js';
import { startOurRegistry, type RunningRegistry } from '../helpers/registries.js';
import { forwardTcp, type Forwarder } from '../helpers/tcp-forward.js';
import { TempDirs } from '../helpers/tmp.js';

const NGINX = '/usr/sbin/nginx';
function skipReason(): string | undefined {
  if (existsSync(NGINX)) return undefined;
  if (process.env.CI) throw new Error(`CI: ${NGINX} is missing (apt-get install nginx-light)`);
  return `${NGINX} is missing`;
}
const skip = skipReason();
const DOMAIN = 'registry.test';
const USER = { user: 'alice', password: `pw-${randomBytes(6).toString('hex')}` };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  raw: string[];
}

function get(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; auth?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        servername: DOMAIN,
        rejectUnauthorized: false,
        agent: false,
        headers: { Host: `${DOMAIN}:${port}`, ...(opts.auth === false ? {} : { Authorization: `Basic ${Buffer.from(`${USER.user}:${USER.password}`).toString('base64')}` }), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), raw: res.rawHeaders }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`${path}: no answer in 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

describe('nginx sends blob bytes the registry names', { skip: skip ?? false, timeout: 180_000 }, () => {
  const tmp = new TempDirs();
  let reg: RunningRegistry;
  let forward: Forwarder;
  let nginx: ManagedProcess;
  let emptyNginx: ManagedProcess;
  let port = 0;
  let emptyPort = 0;
  const blob = randomBytes(3 * 1024 * 1024 + 17);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;

  async function startNginx(dir: string, blobBytesDir: string): Promise<{ proc: ManagedProcess; port: number }> {
    for (const d of ['tls', 'webroot', 'temp']) await mkdir(join(dir, d), { recursive: true });
    const argv = selfSignedOpensslArgv(DOMAIN, { certificate: join(dir, 'tls', 'fullchain.pem'), privateKey: join(dir, 'tls', 'privkey.pem') }, 2);
    await run(argv[0]!, argv.slice(1));
    const httpsPort = await freePort();
    const conf = buildNginxConf({
      mode: 'https',
      domain: DOMAIN,
      httpsPort,
      paths: { tlsDir: join(dir, 'tls'), webroot: join(dir, 'webroot'), tempDir: join(dir, 'temp') },
      listen: { http: await freePort(), https: httpsPort, fallback: await freePort() },
      upstream: { host: '127.0.0.1', port: forward.port },
      blobBytesDir,
    })
      // as root, nginx would switch its workers to "nobody", who cannot read the data directory
      .replace('worker_processes auto;', 'worker_processes 2;\nuser root;')
      .replace('access_log /dev/stdout;', `access_log ${join(dir, 'access.log')};`);
    await writeFile(join(dir, 'nginx.conf'), conf);
    const proc = startProcess(NGINX, ['-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { name: 'nginx' });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const answer = await get(httpsPort, '/v2/', { auth: false }).catch(() => undefined);
      if (answer?.status === 401) break;
      if (Date.now() > deadline) throw new Error(`nginx did not answer /v2/ with 401 in 20 s:\n${proc.logTail()}\n${reg.logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { proc, port: httpsPort };
  }

  before(async () => {
    const dir = await tmp.make('rs-nginx-blob-');
    const htpasswd = await writeHtpasswd(join(dir, 'htpasswd'), [USER]);
    reg = await startOurRegistry({ htpasswd, env: { REGISTRY_HTTP_ACCELREDIRECT: BLOB_BYTES_LOCATION } });
    // between nginx and the registry: counts the connections nginx opens
    forward = await forwardTcp('127.0.0.1', { host: '127.0.0.1', port: reg.port });
    const started = await startNginx(join(dir, 'a'), reg.dataDir);
    nginx = started.proc;
    port = started.port;
    const empty = await tmp.make('rs-nginx-empty-');
    const second = await startNginx(join(dir, 'b'), empty);
    emptyNginx = second.proc;
    emptyPort = second.port;

    // push the blob through nginx (monolithic POST ?digest=)
    const push = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: `/v2/app/blobs/uploads/?digest=${digest}`,
          method: 'POST',
          servername: DOMAIN,
          rejectUnauthorized: false,
          agent: false,
          headers: { Host: `${DOMAIN}:${port}`, Authorization: `Basic ${Buffer.from(`${USER.user}:${USER.password}`).toString('base64')}`, 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.length) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(blob);
    });
    assert.equal(push, 201, reg.logTail());
  });

  after(async () => {
    await nginx?.stop().catch(() => undefined);
    await emptyNginx?.stop().catch(() => undefined);
    await forward?.close();
    await reg?.stop();
    await tmp.cleanup();
  });

  test('GET: the bytes with the registry\'s headers, sent by nginx', async () => {
    const r = await get(port, `/v2/app/blobs/${digest}`);
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(`sha256:${createHash('sha256').update(r.body).digest('hex')}`, digest);
    assert.equal(r.headers['content-length'], String(blob.length));
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    assert.equal(r.headers['docker-content-digest'], digest);
    assert.equal(r.headers.etag, `"${digest}"`);
    assert.equal(r.headers['cache-control'], 'max-age=31536000');
    assert.equal(r.headers['x-accel-redirect'], undefined, 'the internal path is not shown to clients');
    assert.equal(r.raw.filter((h) => h.toLowerCase() === 'docker-distribution-api-version').length, 1);
  });

  test('Range: nginx answers 206 with the part; an unsatisfiable range is the registry\'s 416', async () => {
    const r = await get(port, `/v2/app/blobs/${digest}`, { headers: { Range: 'bytes=100-1099' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 100-1099/${blob.length}`);
    assert.ok(r.body.equals(blob.subarray(100, 1100)));
    assert.equal(r.headers['docker-content-digest'], digest);
    const bad = await get(port, `/v2/app/blobs/${digest}`, { headers: { Range: `bytes=${blob.length + 5}-` } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers['content-range'], `bytes */${blob.length}`);
  });

  test('HEAD, no credentials, another repository and an unknown digest answer as before', async () => {
    const head = await get(port, `/v2/app/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(blob.length));
    assert.equal((await get(port, `/v2/app/blobs/${digest}`, { auth: false })).status, 401);
    const other = await get(port, `/v2/other/blobs/${digest}`);
    assert.equal(other.status, 404);
    assert.match(other.body.toString(), /BLOB_UNKNOWN/);
    const unknown = await get(port, `/v2/app/blobs/sha256:${'0'.repeat(64)}`);
    assert.equal(unknown.status, 404);
  });

  test('clients cannot name files through the internal location', async () => {
    const hex = digest.slice('sha256:'.length);
    for (const path of [`${BLOB_BYTES_LOCATION}docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`, `${BLOB_BYTES_LOCATION}../../etc/passwd`]) {
      const r = await get(port, path);
      assert.notEqual(r.status, 200, path);
      assert.ok(!r.body.includes(blob.subarray(0, 64)), `${path} leaked the blob`);
    }
  });

  test('a blob gone from the disk after the registry answered is a JSON BLOB_UNKNOWN from nginx', async () => {
    const r = await get(emptyPort, `/v2/app/blobs/${digest}`);
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.body.toString()).errors[0].code, 'BLOB_UNKNOWN');
  });

  test('connections to the registry are kept open between requests', async () => {
    const before = forward.accepted;
    for (let i = 0; i < 40; i++) assert.equal((await get(port, `/v2/app/blobs/${digest}`, { method: 'HEAD' })).status, 200);
    const registryConnections = forward.accepted - before;
    // one pool per nginx worker (2 here); a new connection per request would be 40
    assert.ok(registryConnections <= 4, `${registryConnections} connections for 40 requests`);
  });
});
