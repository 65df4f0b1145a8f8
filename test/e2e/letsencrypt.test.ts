import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { setTimeout as delay } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { execa } from 'execa';
import { jsonEvents, jsonResult, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { startPebble, type RunningPebble } from '../helpers/pebble.js';
import { buildOciImage } from '../helpers/oci.js';
import { skopeo } from '../helpers/skopeo.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';
import { freePort } from '../helpers/net.js';
import { forwardTcp } from '../helpers/tcp-forward.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { RegistryClient } from '../../src/client/registry-client.js';

const PASSWORD = 'e2e-acme-password-1';
const DOMAIN = 'localhost';
/** docker0: containers reach the host here (see test/helpers/tcp-forward.ts) */
const DOCKER_HOST_ADDRESS = '172.17.0.1';

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

  it('a first deploy that fails after writing the user shows its generated password once; the file on the host has it', async () => {
    // an ACME directory that refuses connections: everything up to the certificate step is done
    const r = await bed.cli([...args(['--json']), '--email', 'ops@example.com', '--acme-directory', 'https://127.0.0.1:1/dir'], {
      env: { NODE_EXTRA_CA_CERTS: files.pebbleRoot, REGISTRY_SETUP_DNS_SERVER: pebble.dnsAddress },
    });
    assert.notEqual(r.exitCode, 0);
    const events = jsonEvents(String(r.stdout));
    const shown = events.find((e) => e.type === 'password');
    assert.ok(shown, `no password event:\n${String(r.stdout).slice(-2000)}\n${String(r.stderr).slice(-1500)}`);
    assert.equal(shown.user, 'admin');
    assert.equal(events.at(-1)!.type, 'error', 'the error document still ends the output');
    const line = readFileSync(path.join(bed.installDir, 'auth/htpasswd'), 'utf8').split('\n').find((l) => l.startsWith('admin:'))!;
    assert.ok(bcrypt.compareSync(String(shown.password), line.slice('admin:'.length)), 'the shown password is the one written');
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

  it("certs renew takes the host's renewal lock: while the timer's run holds it, nothing is ordered", async () => {
    const lock = path.join(bed.installDir, 'acme/renew.lock');
    writeFileSync(lock, JSON.stringify({ pid: 1, host: 'the timer' }), { mode: 0o600 });
    try {
      const orders = pebble.orderCount();
      const r = await cli(['certs', 'renew', bed.sshd.target('root'), ...hostOpts(), '--force']);
      assert.equal(r.exitCode, 1, context);
      assert.match(String(r.stderr), /another certificate renewal is running on 127\.0\.0\.1 \(lock .*acme\/renew\.lock: .*the timer/, context);
      assert.equal(pebble.orderCount(), orders);
    } finally {
      rmSync(lock, { force: true });
    }
    assert.equal(existsSync(lock), false);
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
    // `nginx -s reload` returns once signalled; the old workers may answer a moment longer
    let after = await servedSerial(bed.httpsPort, pebble.rootPem);
    for (const deadline = Date.now() + 15_000; after === before && Date.now() < deadline; after = await servedSerial(bed.httpsPort, pebble.rootPem)) await delay(200);
    assert.notEqual(after, before);
    assert.equal(pebble.orderCount(), 2);

    const status = await cli(['certs', 'status', bed.sshd.target('root'), ...hostOpts(), '--json']);
    assert.equal(status.exitCode, 0, context);
    const s = jsonResult(String(status.stdout));
    assert.equal(String(s.serial).toLowerCase().replace(/:/g, ''), after.toLowerCase());
    assert.equal(s.lastResult, 'renewed');
    assert.deepEqual(s.names, [DOMAIN]);
  });

  it('renew.sh, as the timer runs it, renews through compose.yaml\'s renew service only once due; nginx serves the new certificate', async () => {
    // The renew container reaches the test CA through docker0's address (a forwarder to pebble on
    // loopback), so the deployment's directory URL is that address for the CLI and the host alike.
    const short = await startPebble({ httpPort: bed.httpPort, certificateValidityPeriod: 45, extraAddresses: [DOCKER_HOST_ADDRESS] });
    const forward = await forwardTcp(DOCKER_HOST_ADDRESS, { host: '127.0.0.1', port: Number(new URL(short.directoryUrl).port) });
    try {
      const shortHttps = path.join(work, 'short-https.pem');
      const roots = path.join(work, 'both-roots.pem');
      writeFileSync(shortHttps, short.caPem);
      writeFileSync(roots, `${pebble.rootPem}\n${short.rootPem}`);
      const directory = `https://${DOCKER_HOST_ADDRESS}:${forward.port}/dir`;
      // Switching CA counts as a reason to order: deploy issues from the short-lived CA and writes
      // renew.sh for it.
      const deployed = await bed.cli([...args(['--json']), '--email', 'ops@example.com', '--acme-directory', directory, '--acme-ca', shortHttps], {
        env: { NODE_EXTRA_CA_CERTS: roots, REGISTRY_SETUP_DNS_SERVER: short.dnsAddress },
      });
      assert.equal(deployed.exitCode, 0, `${String(deployed.stderr).split('\n').slice(-25).join('\n')}\npebble:\n${short.logTail(15)}`);
      assert.equal(short.orderCount(), 1);
      const script = path.join(bed.installDir, 'renew.sh');
      assert.match(readFileSync(script, 'utf8'), / run --rm -T --no-deps renew renew .*--check-via nginx:8080/);

      // What the systemd unit runs (ExecStart=/bin/sh <dir>/renew.sh), as root, with one change:
      // --no-preflight, because the container's DNS cannot resolve the test's name (the preflight
      // has tests of its own; what this one is about is the renew service's user, capabilities,
      // mounts and network).
      const asRun = path.join(work, 'renew-as-run.sh');
      writeFileSync(asRun, readFileSync(script, 'utf8').replace(' renew renew ', ' renew renew --no-preflight '));
      assert.notEqual(readFileSync(asRun, 'utf8'), readFileSync(script, 'utf8'));
      const renewSh = async () => {
        const r = await execa('/bin/sh', [asRun], { reject: false, timeout: 180_000 });
        return { ...r, text: `exit ${r.exitCode}\n${r.stdout}\n${r.stderr}\npebble:\n${short.logTail(15)}` };
      };
      const notDue = await renewSh();
      assert.equal(notDue.exitCode, 0, notDue.text);
      assert.match(notDue.stdout, /^renew: certificate not-due$/m, notDue.text);
      assert.equal(short.orderCount(), 1);

      const status = async () => {
        const r = await cli(['certs', 'status', bed.sshd.target('root'), ...hostOpts(), '--json']);
        return jsonResult(String(r.stdout));
      };
      const before = await status();
      const dueAt = Date.parse(String(before.dueAt));
      assert.ok(dueAt - Date.now() < 40_000, `due ${dueAt - Date.now()} ms from now`);
      // Wait for the due time with a deadline (the certificate's own clock, not a fixed sleep).
      while (Date.now() < dueAt + 500) await new Promise((r) => setTimeout(r, 250));
      const renewed = await renewSh();
      assert.equal(renewed.exitCode, 0, renewed.text);
      assert.match(renewed.stdout, /^renew: certificate renewed$/m, renewed.text);
      assert.match(renewed.stdout, /^renew: nginx reloaded$/m, renewed.text);
      assert.equal(existsSync(path.join(bed.installDir, 'state/reload-pending')), false, 'the marker goes once nginx has reloaded');
      assert.equal(short.orderCount(), 2);

      const after = await status();
      assert.equal(after.lastResult, 'renewed');
      assert.equal(after.due, false);
      assert.notEqual(after.serial, before.serial);
      // the new key kept nginx's owner and mode, and nginx serves the new certificate (reloads are
      // signals: poll with a deadline)
      const key = statSync(path.join(bed.installDir, 'tls/privkey.pem'));
      assert.equal(key.uid, 101);
      assert.equal(key.mode & 0o777, 0o600);
      const want = String(after.serial).toLowerCase().replace(/:/g, '');
      const deadline = Date.now() + 15_000;
      let served = '';
      while (Date.now() < deadline && (served = (await servedSerial(bed.httpsPort, short.rootPem).catch(() => '')).toLowerCase()) !== want) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(served, want);
    } finally {
      await forward.close();
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
  it('switching to a self-signed certificate takes the renewal out: no renew.sh, no renew service', async () => {
    assert.ok(existsSync(path.join(bed.installDir, 'renew.sh')));
    const r = await bed.cli([...bed.deployArgs(['--json'])], { env: { NODE_EXTRA_CA_CERTS: files.pebbleRoot } });
    assert.equal(r.exitCode, 0, String(r.stderr).slice(-2000));
    const step = jsonEvents(String(r.stdout)).find((e) => e.type === 'step-end' && e.id === 'renewal')!;
    assert.equal(step.status, 'done', JSON.stringify(step));
    assert.equal(existsSync(path.join(bed.installDir, 'renew.sh')), false);
    assert.doesNotMatch(readFileSync(path.join(bed.installDir, 'compose.yaml'), 'utf8'), /^ {2}renew:/m);
    const again = await bed.cli([...bed.deployArgs(['--json'])], { env: { NODE_EXTRA_CA_CERTS: files.pebbleRoot } });
    assert.equal(again.exitCode, 0);
    assert.equal(jsonEvents(String(again.stdout)).find((e) => e.type === 'step-end' && e.id === 'renewal')!.status, 'unchanged');
  });
});
