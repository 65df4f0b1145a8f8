// Let's Encrypt on a fresh Debian 13 behind ufw: a bare host (test/helpers/bare-host/bed.ts) with
// ufw enabled before the deploy (deny incoming, SSH allowed), pebble as the CA, reachable from the
// host and from containers on it at the bridge's gateway, validating against the host's address.
// The renewal runs the way systemd runs it on a real server: the timer is listed, starting the
// service renews a short-lived certificate, and the timer survives a reboot.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import tls from 'node:tls';
import { setTimeout as delay } from 'node:timers/promises';
import { jsonEvents, jsonResult } from '../helpers/deploy-bed.js';
import { startBareHostBed, tail, type BareHostBed } from '../helpers/bare-host/bed.js';
import { bareHostSkipReason } from '../helpers/bare-host/root.js';
import { startPebble, type RunningPebble } from '../helpers/pebble.js';
import { forwardTcp, type Forwarder } from '../helpers/tcp-forward.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';

const PASSWORD = 'bare-host-acme-password-1';
const DOMAIN = 'registry.bare-host.test';
const TIMER = 'registry-setup-renew.timer';
const SERVICE = 'registry-setup-renew.service';
/** short enough that the certificate is due (a third of its life left) within the test */
const VALIDITY_S = 60;

describe("Let's Encrypt (pebble) on a fresh Debian 13 behind ufw", { skip: bareHostSkipReason() }, () => {
  let bed: BareHostBed;
  let pebble: RunningPebble;
  let forward: Forwarder;
  let work: string;
  let pebbleHttps: string;
  let pebbleRoot: string;
  let firstSerial = '';
  let deployOutput = '';
  const timings: Record<string, number> = {};

  const env = () => ({ NODE_EXTRA_CA_CERTS: pebbleRoot, REGISTRY_SETUP_DNS_SERVER: pebble.dnsAddress });
  const cli = async (args: string[], input = '') => {
    const r = await bed.cli(args, { input, env: env() });
    return { r, why: async () => `registry-setup ${args.join(' ')}\n${tail(r)}\npebble:\n${pebble.logTail(15)}\n${await bed.diagnostics()}` };
  };
  const onHost = async (script: string, ...args: string[]) => (await bed.host.exec(['sh', '-c', script, 'sh', ...args], { timeoutMs: 300_000 })).stdout.trim();
  const deployArgs = (extra: string[] = []) => [
    ...bed.deployArgs(extra).map((a, i, all) => (all[i - 1] === '--tls' ? 'letsencrypt' : all[i - 1] === '--domain' ? DOMAIN : a)),
    '--email', 'ops@example.com',
    '--acme-directory', `https://${forward.host}:${forward.port}/dir`,
    '--acme-ca', pebbleHttps,
  ];
  /**
   * Serial of the certificate nginx serves on the host's 443, verified against pebble's root unless
   * `verify` is false (a 60 s certificate may have expired by the time it is looked at again).
   */
  const servedSerial = (verify = true) =>
    new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: bed.host.address, port: 443, servername: DOMAIN, ca: pebble.rootPem, rejectUnauthorized: verify, timeout: 5_000 }, () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.end();
        resolve(serial.toLowerCase());
      });
      socket.on('timeout', () => socket.destroy(new Error('TLS connect timed out')));
      socket.on('error', reject);
    });
  const httpStatus = () =>
    new Promise<number>((resolve, reject) => {
      const req = http.get({ host: bed.host.address, port: 80, path: '/v2/', headers: { Host: DOMAIN }, timeout: 5_000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy(new Error('HTTP timed out')));
      req.on('error', reject);
    });
  /** polls until nginx serves a serial `ok` accepts; returns it */
  const waitForSerial = async (ok: (serial: string) => boolean, what: string, verify = true) => {
    const deadline = Date.now() + 60_000;
    let last = '';
    for (;;) {
      try {
        last = await servedSerial(verify);
        if (ok(last)) return last;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline) assert.fail(`nginx did not serve ${what} within 60 s (last: ${last})\n${await bed.diagnostics()}`);
      await delay(250);
    }
  };

  before(async () => {
    bed = await startBareHostBed({ suite: 'trixie', name: 'acme' });
    const gateway = bed.network.gateway;
    // pebble validates HTTP-01 at the host's address; its DNS (every name → the host) is the
    // host's resolver too, so the renew container on the host resolves the domain as well
    pebble = await startPebble({ httpPort: 80, certificateValidityPeriod: VALIDITY_S, extraAddresses: [gateway], defaultIPv4: bed.host.address, dnsListen: { host: gateway, port: 53 } });
    forward = await forwardTcp(gateway, { host: '127.0.0.1', port: Number(new URL(pebble.directoryUrl).port) });
    await onHost('printf "nameserver %s\\n" "$1" > /etc/resolv.conf', gateway);
    work = await makeTempDir('rs-bare-acme-work-');
    pebbleHttps = path.join(work, 'pebble-https.pem');
    pebbleRoot = path.join(work, 'pebble-root.pem');
    writeFileSync(pebbleHttps, pebble.caPem);
    writeFileSync(pebbleRoot, pebble.rootPem);
  });
  after(async () => {
    console.log(`bare-host letsencrypt timings (ms): ${JSON.stringify({ ...bed?.timings, ...timings })}`);
    await forward?.close();
    await pebble?.stop();
    await bed?.cleanup();
    if (work) await removeDir(work);
  });

  it('ufw is installed and enabled before the deploy: deny incoming, SSH allowed', async () => {
    const started = Date.now();
    await onHost('set -e; apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw >/dev/null; ufw default deny incoming; ufw allow OpenSSH; ufw --force enable');
    timings.ufw = Date.now() - started;
    const status = await onHost('ufw status verbose');
    assert.match(status, /^Status: active$/m);
    assert.match(status, /Default: deny \(incoming\)/);
    assert.match(status, /^22\/tcp \(OpenSSH\)\s+ALLOW IN/m);
  });

  it('deploy --tls letsencrypt obtains a certificate from pebble and installs the renewal timer', async () => {
    const started = Date.now();
    const { r, why } = await cli([...deployArgs(['--password-stdin', '--json'])], PASSWORD);
    timings.deploy = Date.now() - started;
    deployOutput = `${String(r.stdout)}\n${String(r.stderr)}`;
    assert.equal(r.exitCode, 0, await why());
    const events = jsonEvents(String(r.stdout));
    const cert = events.find((e) => e.type === 'step-end' && e.id === 'certificate');
    assert.equal(cert?.status, 'done', JSON.stringify(cert));
    assert.match(String(cert!.detail), /^issued, serial/);
    assert.equal(pebble.orderCount(), 1);
    assert.match(await onHost('systemctl list-timers --all --no-pager'), new RegExp(TIMER.replace('.', '\\.')));
    assert.equal(await onHost('systemctl is-enabled "$1"', TIMER), 'enabled');
    firstSerial = await servedSerial();
  });

  it('the registry answers on 80 and 443 from outside while ufw stays active', async () => {
    assert.match(await onHost('ufw status'), /^Status: active$/m);
    const status = await httpStatus();
    assert.ok([301, 308, 401].includes(status), `port 80 answered ${status}`);
    assert.equal(await servedSerial(), firstSerial);
  });

  it('deploy says what it did about the firewall', async () => {
    const step = jsonEvents(deployOutput.split('\n').filter((l) => l.startsWith('{')).join('\n')).find((e) => e.type === 'step-end' && e.id === 'firewall');
    assert.equal(step?.status, 'done', deployOutput.slice(-2000));
    assert.match(String(step!.detail), /^ufw is active: allowed 80\/tcp and 443\/tcp \(rules commented "registry-setup registry-setup"; destroy removes them\)$/);
    assert.match(await onHost('ufw status'), /80\/tcp +ALLOW +Anywhere +# registry-setup registry-setup/);
  });

  it('systemctl start of the renewal service renews the short-lived certificate; nginx serves it and the journal has the result', async () => {
    // due once a third of the lifetime is left: wait for that with a deadline, by the certificate's clock
    const status = await cli(['certs', 'status', bed.target(), ...bed.loginArgs(), '--yes', '--json']);
    assert.equal(status.r.exitCode, 0, await status.why());
    const dueAt = Date.parse(String(jsonResult(String(status.r.stdout)).dueAt));
    assert.ok(dueAt - Date.now() < VALIDITY_S * 1000, `due ${dueAt - Date.now()} ms from now`);
    while (Date.now() < dueAt + 1_000) await delay(250);

    const started = Date.now();
    const run = await bed.host.exec(['systemctl', 'start', SERVICE], { allowFailure: true, timeoutMs: 300_000 });
    timings.renewService = Date.now() - started;
    const journal = await onHost('journalctl -u "$1" --no-pager -n 40', SERVICE);
    assert.equal(run.code, 0, `systemctl start ${SERVICE}: ${run.stderr}\n${journal}\npebble:\n${pebble.logTail(15)}`);
    assert.match(journal, /renew: certificate renewed/, journal);
    assert.equal(pebble.orderCount(), 2);
    await waitForSerial((s) => s !== firstSerial, 'the renewed certificate');
  });

  it('after a reboot the renewal timer is still there, enabled and active, and ufw still on', async () => {
    await bed.host.reboot();
    assert.equal(await onHost('systemctl is-enabled "$1"', TIMER), 'enabled');
    assert.equal(await onHost('systemctl is-active "$1"', TIMER), 'active');
    assert.match(await onHost('systemctl list-timers --no-pager'), new RegExp(TIMER.replace('.', '\\.')));
    assert.match(await onHost('ufw status'), /^Status: active$/m);
  });

  // Found by this test: the reload used to be `docker compose kill -s SIGHUP nginx`, and Docker
  // marks any container it sends a signal through `kill` as stopped by hand (moby daemon/kill.go),
  // so the restart policy (unless-stopped) did not start nginx again at the next boot: after the
  // first renewal, a reboot left 80/443 closed. The reload is now `nginx -s reload` in the container.
  it('after that reboot nginx serves the deployment\'s certificate again', async () => {
    // dockerd restores containers before it reports started, and the boot waited for it
    const nginx = await onHost('docker ps -a --filter "label=com.docker.compose.service=nginx" --format "{{.State}} {{.Status}}"');
    assert.match(nginx, /^running /, `nginx after the reboot: ${nginx}`);
    // the certificate on disk now (the renewed one, or a newer one if the timer ran since)
    const onDisk = (await onHost('openssl x509 -noout -serial -in /opt/registry-setup/tls/fullchain.pem')).replace(/^serial=/, '').toLowerCase();
    assert.notEqual(onDisk, firstSerial);
    await waitForSerial((s) => s === onDisk, 'the deployment\'s certificate after the reboot', false);
  });
});
