import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { execa } from 'execa';
import { jsonEvents, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { startPebble, type RunningPebble } from '../helpers/pebble.js';
import { buildOciImage } from '../helpers/oci.js';
import { skopeo } from '../helpers/skopeo.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';
import { freePort } from '../helpers/net.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { RegistryClient } from '../../src/client/registry-client.js';

const PASSWORD = 'e2e-acme-password-1';
const DOMAIN = 'localhost';

/** Serial of the certificate nginx serves right now. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: DOMAIN, ca }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

describe("Let's Encrypt (pebble) certificates on deploy, renewal and status", { skip: sshdSkipReason() }, () => {
  let bed: DeployBed;
  let pebble: RunningPebble;
  let work: string;
  let files: { pebbleHttps: string; pebbleRoot: string };
  let context = '';

  const args = (extra: string[] = []) =>
    bed.deployArgs([...extra]).map((a, i, all) => (all[i - 1] === '--tls' ? 'letsencrypt' : a));
  const leArgs = (extra: string[] = []) => [
    ...args(extra),
    '--email', 'ops@example.com',
    '--acme-directory', pebble.directoryUrl,
    '--acme-ca', files.pebbleHttps,
  ];
  const cli = async (argv: string[], input = '') => {
    const r = await bed.cli(argv, { input, env: { NODE_EXTRA_CA_CERTS: files.pebbleRoot, REGISTRY_SETUP_DNS_SERVER: pebble.dnsAddress } });
    context = `exit ${r.exitCode}\n${String(r.stderr).split('\n').slice(-25).join('\n')}\npebble:\n${pebble.logTail(15)}`;
    return r;
  };
  const hostOpts = () => ['-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--compose-project', bed.project, '--yes'];

  before(async () => {
    bed = await startDeployBed('acme');
    pebble = await startPebble({ httpPort: bed.httpPort });
    work = await makeTempDir('rs-acme-work-');
    files = { pebbleHttps: path.join(work, 'pebble-https.pem'), pebbleRoot: path.join(work, 'pebble-root.pem') };
    writeFileSync(files.pebbleHttps, pebble.caPem);
    writeFileSync(files.pebbleRoot, pebble.rootPem);
  });
  after(async () => {
    await bed?.cleanup();
    await pebble?.stop();
    if (work) await removeDir(work);
  });

  it('deploy obtains a certificate; skopeo pushes and pulls trusting only pebble\'s root', async () => {
    const r = await cli([...leArgs(['--password-stdin', '--json'])], PASSWORD);
    assert.equal(r.exitCode, 0, context);
    const cert = jsonEvents(String(r.stdout)).find((e) => e.type === 'step-end' && e.id === 'certificate')!;
    assert.equal(cert.status, 'done', JSON.stringify(cert));
    assert.match(String(cert.detail), /^issued, serial/);
    assert.equal(pebble.orderCount(), 1);

    const certDir = path.join(work, 'certs');
    mkdirSync(certDir, { recursive: true });
    writeFileSync(path.join(certDir, 'pebble-root.crt'), pebble.rootPem);
    const layout = path.join(work, 'layout');
    const image = await buildOciImage(layout, 'v1');
    const ref = `docker://${DOMAIN}:${bed.httpsPort}/acme/app:v1`;
    await skopeo(['copy', '--dest-cert-dir', certDir, '--dest-creds', `admin:${PASSWORD}`, `oci:${layout}:v1`, ref]);
    const raw = await skopeo(['inspect', '--raw', '--cert-dir', certDir, '--creds', `admin:${PASSWORD}`, ref]);
    assert.equal(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`, image.manifestDigest);
    // Without pebble's root the certificate is not trusted.
    await assert.rejects(skopeo(['inspect', '--raw', '--creds', `admin:${PASSWORD}`, ref]), /certificate|x509/i);
  });

  it('a second deploy orders nothing and serves the same certificate', async () => {
    const before = await servedSerial(bed.httpsPort, pebble.rootPem);
    const r = await cli([...leArgs(['--json'])]);
    assert.equal(r.exitCode, 0, context);
    const cert = jsonEvents(String(r.stdout)).find((e) => e.type === 'step-end' && e.id === 'certificate')!;
    assert.equal(cert.status, 'unchanged');
    assert.equal(pebble.orderCount(), 1);
    assert.equal(await servedSerial(bed.httpsPort, pebble.rootPem), before);
  });

  it('certs renew --force serves a new certificate while a large pull in flight completes', async () => {
    const client = new RegistryClient({ baseUrl: `https://${DOMAIN}:${bed.httpsPort}`, user: 'admin', password: PASSWORD, ca: pebble.rootPem });
    const blob = Buffer.alloc(48 * 1024 * 1024, 5);
    const digest = await client.pushBlob('acme/big', blob);
    const before = await servedSerial(bed.httpsPort, pebble.rootPem);

    let renewStarted!: () => void;
    const started = new Promise<void>((r) => (renewStarted = r));
    const pull = new Promise<string>((resolve, reject) => {
      const req = https.get(
        { host: '127.0.0.1', port: bed.httpsPort, servername: DOMAIN, path: `/v2/acme/big/blobs/${digest}`, ca: pebble.rootPem, headers: { Host: `${DOMAIN}:${bed.httpsPort}`, Authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` }, highWaterMark: 64 * 1024 } as https.RequestOptions,
        (res) => {
          const hash = createHash('sha256');
          let paused = false;
          res.on('data', (c: Buffer) => {
            hash.update(c);
            if (!paused) {
              // Hold the download open until the renewal (and nginx reload) has happened.
              paused = true;
              res.pause();
              renewStarted();
              pullResume = () => res.resume();
            }
          });
          res.on('end', () => resolve(`sha256:${hash.digest('hex')}`));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
    });
    let pullResume: () => void = () => {};
    await started;
    const r = await cli(['certs', 'renew', bed.sshd.target('root'), ...hostOpts(), '--force', '--json']);
    assert.equal(r.exitCode, 0, context);
    pullResume();
    assert.equal(await pull, digest, 'the download that started before the reload completed intact');
    const after = await servedSerial(bed.httpsPort, pebble.rootPem);
    assert.notEqual(after, before);
    assert.equal(pebble.orderCount(), 2);

    const status = await cli(['certs', 'status', bed.sshd.target('root'), ...hostOpts(), '--json']);
    assert.equal(status.exitCode, 0, context);
    const s = jsonEvents(String(status.stdout)).find((e) => e.type === 'certificate')!;
    assert.equal(String(s.serial).toLowerCase().replace(/:/g, ''), after.toLowerCase());
    assert.equal(s.lastResult, 'renewed');
    assert.deepEqual(s.names, [DOMAIN]);
  });

  it('the host-side renew command renews only once due, and certs status reports it', async () => {
    const short = await startPebble({ httpPort: bed.httpPort, certificateValidityPeriod: 45 });
    try {
      writeFileSync(path.join(bed.installDir, 'acme/short-ca.pem'), short.caPem);
      // The renew command of the deployed image, as renew.sh runs it, but on the host network so
      // that it reaches the test CA on loopback.
      const image = (await execa('docker', ['ps', '--filter', `label=com.docker.compose.project=${bed.project}`, '--filter', 'label=com.docker.compose.service=registry', '--format', '{{.Image}}'])).stdout.trim();
      assert.match(readFileSync(path.join(bed.installDir, 'renew.sh'), 'utf8'), /registry renew .*--check-via nginx:8080/);
      const renew = () =>
        execa('docker', [
          'run', '--rm', '--network', 'host', '--user', '0:0',
          '-v', `${bed.installDir}/acme:/acme`, '-v', `${bed.installDir}/tls:/tls`, '-v', `${bed.installDir}/webroot:/webroot`, '-v', `${bed.installDir}/state:/state`,
          image, 'renew', '--state-dir', '/acme', '--state-file', '/state/renewal.json', '--tls-dir', '/tls', '--webroot', '/webroot',
          '--domain', DOMAIN, '--email', 'ops@example.com', '--directory', short.directoryUrl, '--ca-file', '/acme/short-ca.pem',
          '--http-port', String(bed.httpPort), '--check-via', `127.0.0.1:${bed.httpPort}`, '--dns-server', short.dnsAddress,
        ], { reject: false });
      // Switching CA counts as a reason to order; after that the 45 s certificate is not due at once.
      const first = await renew();
      assert.equal(first.stdout.trim(), 'renewed', first.stderr);
      const second = await renew();
      assert.equal(second.stdout.trim(), 'not-due', second.stderr);
      assert.equal(short.orderCount(), 1);

      const status = async () => {
        const r = await cli(['certs', 'status', bed.sshd.target('root'), ...hostOpts(), '--json']);
        return jsonEvents(String(r.stdout)).find((e) => e.type === 'certificate')!;
      };
      const dueAt = Date.parse(String((await status()).dueAt));
      assert.ok(dueAt - Date.now() < 40_000, `due ${dueAt - Date.now()} ms from now`);
      // Wait for the due time with a deadline (the certificate's own clock, not a fixed sleep).
      while (Date.now() < dueAt + 500) await new Promise((r) => setTimeout(r, 250));
      const third = await renew();
      assert.equal(third.stdout.trim(), 'renewed', third.stderr);
      assert.equal(short.orderCount(), 2);
      const s = await status();
      assert.equal(s.lastResult, 'renewed');
      assert.equal(s.due, false);
    } finally {
      await short.stop();
    }
  });

  it('an unreachable challenge path fails at the preflight before any order', async () => {
    const orders = pebble.orderCount();
    const nginx = (await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${bed.project}`, '--filter', 'label=com.docker.compose.service=nginx'])).stdout.trim();
    await execa('docker', ['stop', nginx]);
    try {
      const r = await cli(['certs', 'renew', bed.sshd.target('root'), ...hostOpts(), '--force']);
      assert.notEqual(r.exitCode, 0);
      assert.match(String(r.stderr), /preflight failed, no certificate was ordered/, context);
      assert.doesNotMatch(String(r.stderr), /does not resolve/, context);
      assert.equal(pebble.orderCount(), orders);
    } finally {
      await execa('docker', ['start', nginx]);
    }
  });

  it('an unresolvable domain fails at the preflight before any order', async () => {
    const orders = pebble.orderCount();
    const dir = await makeTempDir('rs-acme-bad-');
    const project = `${bed.project}-bad`;
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    try {
      const argv = leArgs()
        .map((a) => (a === DOMAIN ? 'nowhere.invalid' : a === bed.installDir ? dir : a === bed.project ? project : a === String(bed.httpPort) ? String(httpPort) : a === String(bed.httpsPort) ? String(httpsPort) : a));
      // The system resolver this time: the test DNS server would answer for any name.
      const r = await bed.cli([...argv, '--password-stdin'], { input: PASSWORD, env: { NODE_EXTRA_CA_CERTS: files.pebbleRoot } });
      assert.notEqual(r.exitCode, 0);
      assert.match(String(r.stderr), /preflight failed, no certificate was ordered: nowhere\.invalid does not resolve/, String(r.stderr));
      assert.equal(pebble.orderCount(), orders);
    } finally {
      await execa('docker-compose', ['-p', project, '-f', path.join(dir, 'compose.yaml'), 'down'], { reject: false });
      await removeDir(dir);
    }
  });
});
