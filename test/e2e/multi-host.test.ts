// Several hosts serving one registry from one bucket: two stacks on this machine (own install dirs,
// compose projects and ports, reached over the same sshd) deployed by ONE `deploy --config` with a
// `hosts:` list against a real Ceph RGW bucket. The tests build on each other, in order.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import tls from 'node:tls';
import { CreateBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import YAML from 'yaml';
import { parseCertificate, slotAllowsOrder } from '../../src/acme/index.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { jsonEvents, jsonResult, startDeployBed, type DeployBed, type ExtraStack } from '../helpers/deploy-bed.js';
import { buildOciImage, readLayoutImage, sha256 } from '../helpers/oci.js';
import { rgwAvailable, startRgw, type Rgw } from '../helpers/rgw.js';
import { s3Client } from '../helpers/s3-store.js';
import { skopeo } from '../helpers/skopeo.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { forwardTcp, type Forwarder } from '../helpers/tcp-forward.js';
import { startPebble } from '../helpers/pebble.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';

const PASSWORD = 'e2e-multi-password-1';
/** docker0's address: host-local, and reachable from the registry containers (unlike 127.0.0.1). */
const DOCKER_HOST_ADDRESS = '172.17.0.1';

describe('several hosts behind one name, sharing an S3 bucket', { skip: sshdSkipReason() ?? rgwAvailable() ?? false }, () => {
  let bed: DeployBed;
  let rgw: Rgw;
  let forward: Forwarder;
  let s3: S3Client;
  let work: string;
  let certDir: string;
  let ca: Buffer;
  let bucket: string;
  let storage: string;
  let config: string;
  let credentialsFile: string;
  let context = '';
  const stacks: ExtraStack[] = [];
  /** each host's HTTP port on docker0 too (port 80 is published on 127.0.0.1 only): where the other host's nginx forwards ACME challenges (peerAddress) */
  const peerForwards: Forwarder[] = [];

  const cli = async (args: string[], input = '', env: Record<string, string> = {}) => {
    const r = await bed.cli(args, { input, env });
    context = `registry-setup ${args.join(' ')}\nexit ${r.exitCode}\nstdout:\n${String(r.stdout).slice(-4000)}\nstderr:\n${String(r.stderr).split('\n').slice(-40).join('\n')}`;
    return r;
  };
  const hostFlags = () => ['--config', config, '-i', bed.sshd.clientKeyPath, '--yes'];
  const host = (s: ExtraStack) => `localhost:${s.httpsPort}`;
  const client = (s: ExtraStack, user = 'admin', password = PASSWORD) => new RegistryClient({ baseUrl: `https://${host(s)}`, user, password, ca });
  const ping = async (s: ExtraStack, user: string, password: string) => (await client(s, user, password).request('GET', '/v2/')).status;
  /** the serial of the certificate a host's nginx serves (hex, lower case) */
  const served = (s: ExtraStack, root: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: s.httpsPort, servername: 'localhost', ca: root }, () => {
        resolve(socket.getPeerCertificate().serialNumber.toLowerCase());
        socket.end();
      });
      socket.on('error', reject);
    });
  // `nginx -s reload` returns once the signal is sent; until the new workers take the listening
  // socket, the old ones still hand out the old certificate: ask again until it changes (deadline 15 s).
  const servedOtherThan = async (s: ExtraStack, root: string, old: string[]) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const serial = await served(s, root);
      if (!old.includes(serial) || Date.now() > deadline) return serial;
      await delay(200);
    }
  };

  before(async () => {
    [bed, rgw] = await Promise.all([startDeployBed('multi'), startRgw()]);
    // The bed's own stack is host A; B is a second deployment on the same machine.
    stacks.push({ installDir: bed.installDir, project: bed.project, httpPort: bed.httpPort, httpsPort: bed.httpsPort }, await bed.stack('b'));
    // RGW listens on loopback; the containers reach it through docker0's address.
    const rgwUrl = new URL(rgw.endpoint);
    forward = await forwardTcp(DOCKER_HOST_ADDRESS, { host: rgwUrl.hostname, port: Number(rgwUrl.port) });
    s3 = s3Client(rgw);
    bucket = `multi-${randomBytes(4).toString('hex')}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    storage = `s3://${bucket}/team?endpoint=http://${DOCKER_HOST_ADDRESS}:${forward.port}`;
    for (const s of stacks) peerForwards.push(await forwardTcp(DOCKER_HOST_ADDRESS, { host: '127.0.0.1', port: s.httpPort }));

    work = await makeTempDir('rs-multi-work-');
    credentialsFile = path.join(work, 's3-credentials');
    writeFileSync(credentialsFile, `# the test gateway\naccess_key_id = ${rgw.accessKey}\nsecret_access_key = ${rgw.secretKey}\n`, { mode: 0o600 });
    config = path.join(bed.home, 'registry-setup.yaml');
    writeFileSync(
      config,
      YAML.stringify({
        domain: 'localhost',
        user: 'admin',
        tls: 'self-signed',
        storage,
        nodeImage: bed.nodeImage,
        nginxImage: bed.nginxImage,
        publishAddress: '127.0.0.1',
        hosts: stacks.map((s, i) => ({
          target: bed.sshd.target('root'),
          dir: s.installDir,
          httpPort: s.httpPort,
          httpsPort: s.httpsPort,
          composeProject: s.project,
          // the nginx containers reach each other's published port 80 through docker0, not 127.0.0.1
          peerAddress: `${DOCKER_HOST_ADDRESS}:${peerForwards[i]!.port}`,
        })),
      }),
    );

    const started = Date.now();
    const r = await cli(['deploy', ...hostFlags(), '--password-stdin', '--s3-credentials', credentialsFile, '--json'], PASSWORD);
    process.stderr.write(`# deploy of 2 hosts: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    assert.equal(r.exitCode, 0, `${context}\nrgw:\n${rgw.logTail(10)}`);
    const events = jsonEvents(String(r.stdout));
    const result = events.find((e) => e.type === 'result')!;
    const hosts = result.hosts as { host: string; dir: string; verified: { pushed: string } }[];
    assert.deepEqual(hosts.map((h) => h.dir), stacks.map((s) => s.installDir));
    for (const h of hosts) assert.match(h.verified.pushed, /^sha256:/, `${h.host} verified with a push and a pull`);
    // per-host progress: every host's steps are reported, named by host
    for (const h of hosts) {
      const ids = events.filter((e) => e.type === 'step-end' && e.host === h.host).map((e) => e.id);
      assert.deepEqual(ids, ['connect', 'preflight', 'docker', 'directories', 'tls', 'files', 'start', 'reload', 'retention', 'healthy', 'renewal', 'verify']);
    }
    certDir = path.join(work, 'certs');
    mkdirSync(certDir);
    ca = readFileSync(path.join(stacks[0]!.installDir, 'tls/fullchain.pem'));
    writeFileSync(path.join(certDir, 'ca.crt'), ca);
  });

  after(async () => {
    s3?.destroy();
    await bed?.cleanup();
    await forward?.close();
    for (const f of peerForwards) await f.close();
    await rgw?.stop();
    if (work) await removeDir(work);
  });

  it('every host got the same secrets, certificate and users, and no data directory; no secret reached a log or the config file', () => {
    const [a, b] = stacks.map((s) => s.installDir);
    for (const rel of ['upload-secret', 's3-credentials', 'auth/htpasswd', 'tls/fullchain.pem', 'tls/privkey.pem']) {
      assert.ok(readFileSync(path.join(a!, rel)).equals(readFileSync(path.join(b!, rel))), `${rel} is the same on both hosts`);
    }
    for (const dir of [a!, b!]) {
      for (const rel of ['upload-secret', 's3-credentials', 'auth/htpasswd']) {
        const st = statSync(path.join(dir, rel));
        assert.equal(`${(st.mode & 0o777).toString(8)} ${st.uid}:${st.gid}`, '600 1000:1000', `${rel}: 0600, readable only by the registry's uid`);
      }
      assert.ok(readFileSync(path.join(dir, 'upload-secret'), 'utf8').trim().length >= 32);
      assert.equal(readFileSync(path.join(dir, 's3-credentials'), 'utf8'), `access_key_id = ${rgw.accessKey}\nsecret_access_key = ${rgw.secretKey}\n`);
      assert.equal(existsSync(path.join(dir, 'data')), false, 'no data directory with a bucket');
      const registry = YAML.parse(readFileSync(path.join(dir, 'compose.yaml'), 'utf8')).services.registry;
      assert.equal(registry.environment.REGISTRY_STORAGE_URL, storage);
      assert.ok(!registry.volumes.some((v: string) => v.includes('/var/lib/registry:')), 'no data volume');
    }
    const logDir = path.join(bed.home, '.registry-setup/logs');
    const texts = [readFileSync(config, 'utf8'), ...readdirSync(logDir).map((f) => readFileSync(path.join(logDir, f), 'utf8'))];
    for (const text of texts) {
      for (const secret of [rgw.secretKey, PASSWORD, readFileSync(path.join(a!, 'upload-secret'), 'utf8').trim()]) assert.ok(!text.includes(secret), 'a secret leaked');
    }
    assert.ok(readdirSync(logDir).length >= 2, 'one command log per host');
  });

  it('a chunked upload started on one host is continued and finished on the other; both serve the blob', async () => {
    const [a, b] = stacks.map((s) => client(s));
    const first = randomBytes(6 * 1024 * 1024 + 17);
    const second = randomBytes(2 * 1024 * 1024 + 5);
    const digest = sha256(Buffer.concat([first, second]));
    const repo = 'multi/chunked';
    const next = (res: { status: number; headers: Record<string, unknown>; body: Buffer }, want: number, what: string) => {
      assert.equal(res.status, want, `${what}: ${res.body.toString().slice(0, 300)}`);
      const location = new URL(String(res.headers.location), 'https://registry.invalid');
      assert.ok(location.searchParams.get('_state'), `${what}: the Location carries the signed _state`);
      return location;
    };
    let loc = next(await a!.request('POST', `/v2/${repo}/blobs/uploads/`), 202, 'POST on A');
    loc = next(
      await a!.request('PATCH', loc.pathname + loc.search, { body: first, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${first.length - 1}` } }),
      202,
      'PATCH on A',
    );
    loc = next(
      await b!.request('PATCH', loc.pathname + loc.search, {
        body: second,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${first.length}-${first.length + second.length - 1}` },
      }),
      202,
      'PATCH on B',
    );
    loc.searchParams.set('digest', digest);
    const put = await b!.request('PUT', loc.pathname + loc.search);
    assert.equal(put.status, 201, put.body.toString());
    for (const c of [a!, b!]) assert.equal(sha256(await c.pullBlob(repo, digest)), digest);
  });

  it('an image pushed through one host is pulled through the other with identical digests (one certificate for both)', async () => {
    const layout = path.join(work, 'layout');
    const image = await buildOciImage(layout, 'v1', { layerSizes: [3_000, 200_000] });
    const creds = `admin:${PASSWORD}`;
    await skopeo(['copy', '--dest-cert-dir', certDir, '--dest-creds', creds, `oci:${layout}:v1`, `docker://${host(stacks[0]!)}/multi/app:v1`], { redact: [PASSWORD] });
    const raw = await skopeo(['inspect', '--raw', '--cert-dir', certDir, '--creds', creds, `docker://${host(stacks[1]!)}/multi/app:v1`], { redact: [PASSWORD] });
    assert.equal(sha256(Buffer.from(raw.stdout)), image.manifestDigest);
    const pulled = path.join(work, 'pulled');
    await skopeo(['copy', '--src-cert-dir', certDir, '--src-creds', creds, `docker://${host(stacks[1]!)}/multi/app@${image.manifestDigest}`, `oci:${pulled}:v1`], { redact: [PASSWORD] });
    const got = await readLayoutImage(pulled, image.manifestDigest);
    assert.deepEqual([got.configDigest, ...got.layerDigests], [image.configDigest, ...image.layerDigests]);
  });

  it('users add and rotate write one htpasswd to every host; each accepts the new password within 2 s', async () => {
    let r = await cli(['users', 'add', 'ci', ...hostFlags(), '--json']);
    assert.equal(r.exitCode, 0, context);
    const first = String(jsonResult(String(r.stdout)).password);
    r = await cli(['users', 'rotate', 'ci', ...hostFlags(), '--json']);
    assert.equal(r.exitCode, 0, context);
    const events = jsonEvents(String(r.stdout));
    const second = String(events.find((e) => e.type === 'result')!.password);
    const written = Date.parse(String(events.find((e) => e.type === 'step-end' && e.id === 'write')!.time));
    // the command itself waited for each host to accept it
    const checks = events.filter((e) => e.type === 'step-end' && e.id === 'check');
    assert.equal(checks.length, 2);
    for (const c of checks) assert.ok(Number(c.ms) < 2_000, `${String(c.host)} accepted after ${String(c.ms)} ms`);
    for (;;) {
      const seen = await Promise.all(stacks.flatMap((s) => [ping(s, 'ci', second), ping(s, 'ci', first)]));
      if (seen.join() === '200,401,200,401') break;
      assert.ok(Date.now() - written < 2_000, `after ${Date.now() - written} ms: ${seen.join()}`);
      await delay(100);
    }
    assert.ok(readFileSync(path.join(stacks[0]!.installDir, 'auth/htpasswd')).equals(readFileSync(path.join(stacks[1]!.installDir, 'auth/htpasswd'))));
  });

  it('status shows one row per host (--json: one entry per host), every host healthy and on the bucket', async () => {
    let r = await cli(['status', ...hostFlags(), '--json']);
    assert.equal(r.exitCode, 0, context);
    const reports = jsonResult(String(r.stdout)).hosts as {
      host: string;
      dir: string;
      healthy: boolean;
      storage: string;
      content: { repositories?: number; tags?: number };
      checks: { id: string; status: string; detail: string }[];
    }[];
    assert.deepEqual(reports.map((x) => x.dir), stacks.map((s) => s.installDir));
    for (const x of reports) {
      assert.equal(x.healthy, true, JSON.stringify(x.checks));
      assert.equal(x.storage, storage);
      // counted in the bucket by each host's registry container: multi/app:v1 at least, the same on both
      assert.ok(x.content.repositories! >= 1 && x.content.tags! >= 1, JSON.stringify(x.content));
      assert.deepEqual(x.content, reports[0]!.content);
      const detail = x.checks.find((c) => c.id === 'content')!.detail;
      assert.match(detail, /^\d+ repositor(y|ies), \d+ tags? in /);
      assert.ok(detail.endsWith(` in ${storage}`), detail);
      // each host is checked at its own address, not wherever the name leads
      assert.match(x.checks.find((c) => c.id === 'url')!.detail, /answers 401 without credentials \(reached at 127\.0\.0\.1\)$/);
    }
    r = await cli(['status', ...hostFlags()]);
    assert.equal(r.exitCode, 0, context);
    const rows = String(r.stdout).split('\n');
    assert.match(rows[0]!, /^HOST\s+URL\s+STATE\s+CERTIFICATE\s+VERSION$/);
    for (const s of stacks) assert.equal(rows.filter((l) => l.includes(`:${s.installDir} `) && l.includes(`https://localhost:${s.httpsPort} `) && /\bhealthy\b/.test(l)).length, 1, String(r.stdout));
    assert.match(String(r.stdout), /^healthy \(2 hosts\)$/m);
  });

  it('a second deploy reads the secrets back from the hosts and changes nothing; progress lines name their host', async () => {
    const secret = readFileSync(path.join(stacks[0]!.installDir, 'upload-secret'));
    const r = await cli(['deploy', ...hostFlags()]);
    assert.equal(r.exitCode, 0, context);
    const lines = String(r.stderr).split('\n');
    for (const s of stacks) {
      const label = `[${bed.sshd.target('root')}:${s.installDir}]`;
      for (const step of ['Check the host', 'Build the registry image and start the containers', 'Verify https://localhost:']) {
        assert.equal(lines.filter((l) => l.startsWith(`ℹ ${label} ${step}`)).length, 1, `${label} ${step}: ${context}`);
      }
    }
    assert.deepEqual(lines.filter((l) => l.startsWith('✔ [') || / \((done|planned)[:,]/.test(l)), [], 'every step reports unchanged');
    assert.match(String(r.stderr), /Registry already up to date at https:\/\/localhost:\d+ \(served by 2 hosts: /);
    for (const s of stacks) assert.ok(readFileSync(path.join(s.installDir, 'upload-secret')).equals(secret));
  });

  it('gc runs once, on the first host, in the bucket', async () => {
    const r = await cli(['gc', ...hostFlags(), '--dry-run', '--json']);
    assert.equal(r.exitCode, 0, context);
    const results = jsonResult(String(r.stdout)).hosts as Record<string, unknown>[];
    assert.equal(results.length, 1);
    assert.equal(results[0]!.host, `${bed.sshd.target('root')}:${stacks[0]!.installDir}`, 'the first host collects');
    assert.ok(existsSync(path.join(stacks[0]!.installDir, 'state/gc.json')));
    assert.equal(existsSync(path.join(stacks[1]!.installDir, 'state/gc.json')), false);
  });

  it('a bucket that does not exist fails the deploy with the registry\'s own reason', async () => {
    const c = await bed.stack('nobucket');
    const r = await cli([
      'deploy', bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--yes', '--domain', 'localhost', '--user', 'admin', '--tls', 'self-signed',
      '--dir', c.installDir, '--compose-project', c.project, '--http-port', String(c.httpPort), '--https-port', String(c.httpsPort), '--publish-address', '127.0.0.1',
      '--node-image', bed.nodeImage, '--nginx-image', bed.nginxImage, '--storage', storage.replace(bucket, `${bucket}-missing`), '--s3-credentials', credentialsFile,
      '--password-stdin',
    ], PASSWORD);
    assert.equal(r.exitCode, 1, context);
    assert.match(String(r.stderr), /the registry did not become healthy/, context);
    assert.match(String(r.stderr), new RegExp(`${bucket}-missing.*the bucket does not exist`), 'the log lines say why');
    process.stderr.write(`# missing bucket:\n${String(r.stderr).split('\n').filter((l) => l.includes('missing')).map((l) => `#   ${l}`).join('\n')}\n`);
  });

  it("Let's Encrypt: the CA may reach either host; both serve the one certificate, renewed and installed on both from here", async () => {
    // pebble validates on the SECOND host's port only: it passes because every token went to every host
    const pebble = await startPebble({ httpPort: stacks[1]!.httpPort });
    try {
      const pebbleHttps = path.join(work, 'pebble-https.pem');
      const pebbleRoot = path.join(work, 'pebble-root.pem');
      writeFileSync(pebbleHttps, pebble.caPem);
      writeFileSync(pebbleRoot, pebble.rootPem);
      const env = { NODE_EXTRA_CA_CERTS: pebbleRoot, REGISTRY_SETUP_DNS_SERVER: pebble.dnsAddress };
      let r = await cli(['deploy', ...hostFlags(), '--tls', 'letsencrypt', '--email', 'ops@example.com', '--acme-directory', pebble.directoryUrl, '--acme-ca', pebbleHttps, '--json'], '', env);
      assert.equal(r.exitCode, 0, `${context}\npebble:\n${pebble.logTail(15)}`);
      const events = jsonEvents(String(r.stdout));
      assert.match(String(events.find((e) => e.type === 'step-end' && e.id === 'certificate')!.detail), /^issued, serial/);
      assert.equal(pebble.orderCount(), 1);
      const issued = await served(stacks[0]!, pebble.rootPem);
      assert.equal(await served(stacks[1]!, pebble.rootPem), issued, 'both hosts serve the same certificate');
      // every host renews by itself, each in its turn, and asks the other for challenge tokens it lacks
      assert.ok(!events.some((e) => e.type === 'warning' && /renewal timer runs on/.test(String(e.message))));
      for (const [i, s] of stacks.entries()) {
        assert.match(readFileSync(path.join(s.installDir, 'renew.sh'), 'utf8'), new RegExp(` --slot ${i + 1}/2\\b`));
        const other = peerForwards[1 - i]!;
        assert.match(readFileSync(path.join(s.installDir, 'nginx/nginx.conf'), 'utf8'), new RegExp(`upstream acme_peers \\{\\s+server ${DOCKER_HOST_ADDRESS.replace(/\./g, '\\.')}:${other.port} `));
      }

      r = await cli(['certs', 'renew', ...hostFlags(), '--force', '--json'], '', env);
      assert.equal(r.exitCode, 0, `${context}\npebble:\n${pebble.logTail(15)}`);
      const renewed = await servedOtherThan(stacks[0]!, pebble.rootPem, [issued]);
      assert.notEqual(renewed, issued);
      assert.equal(await servedOtherThan(stacks[1]!, pebble.rootPem, [issued]), renewed, 'the renewed certificate is installed on both');
      assert.equal(pebble.orderCount(), 2);
      r = await cli(['certs', 'status', ...hostFlags(), '--json'], '', env);
      assert.equal(r.exitCode, 0, context);
      const statuses = jsonResult(String(r.stdout)).hosts as Record<string, unknown>[];
      assert.equal(statuses.length, 2);
      for (const st of statuses) assert.equal(String(st.serial).toLowerCase().replace(/:/g, ''), renewed);
    } finally {
      await pebble.stop();
    }
  });

  it("each host's timer renews by itself in its turn: the second host orders, the CA reaches the first, which forwards the challenge", async () => {
    // A CA of 90-second certificates (turns of 7.5 s) that validates on the FIRST host's port only;
    // the renew containers reach it through docker0 (see letsencrypt.test.ts).
    // PEBBLE_AUTHZREUSE=0: pebble reuses a valid authorization in half of new orders by default, and a
    // reused one is not validated again, so the forwarding below would go unseen in those runs
    const short = await startPebble({ httpPort: stacks[0]!.httpPort, certificateValidityPeriod: 90, extraAddresses: [DOCKER_HOST_ADDRESS], env: { PEBBLE_AUTHZREUSE: '0' } });
    const caForward = await forwardTcp(DOCKER_HOST_ADDRESS, { host: '127.0.0.1', port: Number(new URL(short.directoryUrl).port) });
    try {
      const shortHttps = path.join(work, 'short-https.pem');
      const roots = path.join(work, 'short-roots.pem');
      writeFileSync(shortHttps, short.caPem);
      writeFileSync(roots, `${readFileSync(path.join(work, 'pebble-root.pem'), 'utf8')}\n${short.rootPem}`);
      const env = { NODE_EXTRA_CA_CERTS: roots, REGISTRY_SETUP_DNS_SERVER: short.dnsAddress };
      const directory = `https://${DOCKER_HOST_ADDRESS}:${caForward.port}/dir`;
      let r = await cli(['deploy', ...hostFlags(), '--tls', 'letsencrypt', '--email', 'ops@example.com', '--acme-directory', directory, '--acme-ca', shortHttps, '--json'], '', env);
      assert.equal(r.exitCode, 0, `${context}\npebble:\n${short.logTail(15)}`);
      assert.equal(short.orderCount(), 1, 'deploy ordered one certificate for both hosts');
      const deployed = await served(stacks[0]!, short.rootPem);
      assert.equal(await served(stacks[1]!, short.rootPem), deployed);

      // What a host's timer runs (ExecStart=/bin/sh <dir>/renew.sh), with --no-preflight: the
      // container's DNS cannot resolve the test's name (letsencrypt.test.ts does the same).
      const renewSh = async (s: ExtraStack) => {
        const asRun = path.join(work, `renew-${s.project}.sh`);
        writeFileSync(asRun, readFileSync(path.join(s.installDir, 'renew.sh'), 'utf8').replace(' renew renew ', ' renew renew --no-preflight '));
        // The image's tag (registry-setup/registry:<version>) is the same for every checkout that
        // tests on this Docker engine: build this stack's own payload into it again just before
        // (from the layer cache: seconds).
        await execa('docker-compose', ['-p', s.project, '-f', path.join(s.installDir, 'compose.yaml'), 'build', '-q', 'registry'], { timeout: 300_000 });
        const run = await execa('/bin/sh', [asRun], { reject: false, timeout: 180_000 });
        return { ...run, text: `exit ${run.exitCode}\n${run.stdout}\n${run.stderr}\npebble:\n${short.logTail(15)}` };
      };
      // Runs host i's timer command once its turn has come (the twice-daily timer would, later); a
      // run that starts as its turn ends (a slow container start) says not-due: the next turn.
      const renewInTurn = async (i: number) => {
        const s = stacks[i]!;
        const cert = parseCertificate(readFileSync(path.join(s.installDir, 'tls/fullchain.pem'), 'utf8'));
        const slot = { index: i, count: 2 };
        const deadline = Date.now() + 150_000;
        for (let attempt = 1; ; attempt++) {
          while (!slotAllowsOrder(cert, new Date(), slot).order) {
            assert.ok(Date.now() < deadline, `host ${i + 1}'s turn did not come: ${slotAllowsOrder(cert, new Date(), slot).reason}`);
            await delay(100);
          }
          const run = await renewSh(s);
          assert.equal(run.exitCode, 0, run.text);
          if (/^renew: certificate renewed$/m.test(run.stdout)) return run;
          assert.match(run.stderr, /takes its turn at/, run.text);
          assert.ok(attempt < 4 && Date.now() < deadline, run.text);
        }
      };
      // nginx's access log is its container's output; challenge requests answered 200, counted before
      // and after (not `docker logs --since`: the engine's clock need not be this process's)
      const challengeGets = async (s: ExtraStack) => {
        const id = (await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${s.project}`, '--filter', 'label=com.docker.compose.service=nginx'])).stdout.trim();
        assert.ok(id, `${s.project}: no nginx container`);
        const logs = await execa('docker', ['logs', id]);
        const lines = `${logs.stdout}\n${logs.stderr}`.split('\n');
        return { count: lines.filter((l) => /"GET \/\.well-known\/acme-challenge\/[\w-]+ HTTP\/1\.[01]" 200 /.test(l)).length, tail: lines.slice(-15).join('\n') };
      };

      // The second host first: its token goes into its own webroot only, pebble asks the first host.
      const before = await Promise.all(stacks.map(challengeGets));
      const second = await renewInTurn(1);
      assert.match(second.stdout, /^renew: nginx reloaded$/m, second.text);
      assert.equal(short.orderCount(), 2);
      const after = await Promise.all(stacks.map(challengeGets));
      assert.ok(after[0]!.count > before[0]!.count, `the CA asked the first host, which answered 200:\n${after[0]!.tail}`);
      assert.ok(after[1]!.count > before[1]!.count, `the first host forwarded to the second, which answered 200:\n${after[1]!.tail}`);
      const secondSerial = await servedOtherThan(stacks[1]!, short.rootPem, [deployed]);
      assert.notEqual(secondSerial, deployed, 'the second host serves its renewed certificate');
      assert.equal(await served(stacks[0]!, short.rootPem), deployed, 'the first host has not renewed yet');

      // Then the first host, in its own turn (never in the second host's).
      const first = await renewInTurn(0);
      assert.match(first.stdout, /^renew: nginx reloaded$/m, first.text);
      assert.equal(short.orderCount(), 3);
      const firstSerial = await servedOtherThan(stacks[0]!, short.rootPem, [deployed, secondSerial]);
      assert.ok(![deployed, secondSerial].includes(firstSerial), `the first host serves its renewed certificate (${firstSerial}):\n${first.text}`);

      // certs status lists both hosts' own certificates and last results; neither is stalled
      r = await cli(['certs', 'status', ...hostFlags(), '--json'], '', env);
      assert.equal(r.exitCode, 0, context);
      const statuses = jsonResult(String(r.stdout)).hosts as Record<string, unknown>[];
      assert.equal(statuses.length, 2);
      const serialOf = (st: Record<string, unknown>) => String(st.serial).toLowerCase().replace(/:/g, '');
      assert.deepEqual(statuses.map(serialOf), [firstSerial, secondSerial]);
      for (const st of statuses) assert.equal(st.lastResult, 'renewed');
      r = await cli(['certs', 'status', ...hostFlags()], '', env);
      assert.equal(r.exitCode, 0, context);
      for (const s of stacks) assert.match(String(r.stdout), new RegExp(`:${s.installDir}:\\n(  .*\\n)*  last attempt: \\S+ renewed`), String(r.stdout));
    } finally {
      await caForward.close();
      await short.stop();
    }
  });

  it('destroy --purge removes every host\'s files but never the bucket\'s data', async () => {
    const before = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.ok((before.KeyCount ?? 0) > 0);
    const r = await cli(['destroy', ...hostFlags(), '--purge']);
    assert.equal(r.exitCode, 0, context);
    for (const s of stacks) assert.equal(existsSync(s.installDir), false, `${s.installDir} is gone`);
    assert.equal(String(r.stderr).split(`The images in ${storage} were left alone`).length - 1, 2, context);
    const after = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.equal(after.KeyCount, before.KeyCount, 'the bucket was not touched');
  });
});
