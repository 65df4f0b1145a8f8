// The bare-host bed itself: a fresh Debian 13 booted with systemd as PID 1, reachable over SSH, with
// Docker's (stand-in) repository, Debian's mirror and the Docker Hub mirror reachable from inside,
// and nothing of Docker installed yet. test/e2e/bare-host.test.ts deploys onto the same bed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { startBareHostBed, type BareHostBed } from '../helpers/bare-host/bed.js';
import { bareHostSkipReason } from '../helpers/bare-host/root.js';

describe('bare-host bed: a fresh Debian 13 with systemd as PID 1', { skip: bareHostSkipReason() }, () => {
  let bed: BareHostBed;
  let why = '';
  before(async () => {
    // the first bare-host file: Debian 12's root is built alongside, for bare-host-bookworm.test.ts
    bed = await startBareHostBed({ suite: 'trixie', name: 'bed', prebuild: ['bookworm'] });
    console.log(`bare-host bed timings (ms): ${JSON.stringify(bed.timings)}`);
  });
  after(async () => {
    await bed?.cleanup();
  });
  const explain = async () => (why = await bed.diagnostics());

  it('boots systemd as PID 1 and answers SSH with the key, as root and as admin', async () => {
    const pid1 = await bed.host.exec(['ps', '-o', 'comm=', '-p', '1']);
    assert.equal(pid1.stdout.trim(), 'systemd');
    const state = await bed.host.exec(['systemctl', 'is-system-running'], { allowFailure: true });
    assert.match(state.stdout.trim(), /^(running|degraded)$/, await explain());
    for (const user of ['root', 'admin']) {
      const r = await execa('ssh', ['-i', bed.clientKeyPath, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', `UserKnownHostsFile=/dev/null`, '-o', 'ConnectTimeout=10', bed.target(user), 'id -un; cat /etc/debian_version'], { reject: false, timeout: 30_000 });
      assert.equal(r.exitCode, 0, `ssh ${user}: ${r.stderr}\n${why || (await explain())}`);
      assert.match(r.stdout, new RegExp(`^${user}\\n13\\.`), r.stdout);
    }
  });

  it('admin needs its password for sudo, and the password works', async () => {
    const noPassword = await bed.host.exec(['su', '-', 'admin', '-c', 'sudo -n true'], { allowFailure: true });
    assert.notEqual(noPassword.code, 0, 'sudo without a password is refused');
    assert.match(noPassword.stderr, /password is required/);
    const withPassword = await bed.host.exec(['su', '-', 'admin', '-c', 'sudo -S -p "" id -u'], { input: `${bed.sudoPassword}\n` });
    assert.equal(withPassword.stdout.trim(), '0');
  });

  it('has no Docker yet; reaches Docker\'s stand-in repository, Debian\'s mirror and the Docker Hub mirror', async () => {
    assert.notEqual((await bed.host.exec(['sh', '-c', 'command -v docker'], { allowFailure: true })).code, 0, 'docker is not installed');
    const gpg = await bed.host.exec(['curl', '-fsS', 'https://download.docker.com/linux/debian/gpg'], { allowFailure: true });
    assert.equal(gpg.code, 0, `${gpg.stderr}\n${await explain()}`);
    assert.match(gpg.stdout, /BEGIN PGP PUBLIC KEY BLOCK/);
    const update = await bed.host.exec(['apt-get', 'update'], { allowFailure: true, timeoutMs: 120_000 });
    assert.equal(update.code, 0, `${update.stdout}${update.stderr}\n${await explain()}`);
    assert.doesNotMatch(update.stdout + update.stderr, /^(W|E|Err):/m, 'every index was fetched');
    const policy = await bed.host.exec(['apt-cache', 'policy', 'iptables']);
    assert.match(policy.stdout, /Candidate: \d/, 'Debian packages Docker depends on are installable');
    const mirror = JSON.parse((await bed.host.exec(['cat', '/etc/docker/daemon.json'])).stdout) as { 'registry-mirrors': string[] };
    const catalog = await bed.host.exec(['curl', '-fsS', `${mirror['registry-mirrors'][0]}/v2/library/node/tags/list`], { allowFailure: true });
    assert.equal(catalog.code, 0, `${catalog.stderr}\n${await explain()}`);
    assert.match(catalog.stdout, /22-bookworm-slim/);
  });

  it('comes back after a reboot (docker stop + start) with systemd running', async () => {
    // /run is a tmpfs systemd mounts at boot: a marker there is gone after a real reboot
    await bed.host.exec(['touch', '/run/bare-host-before-reboot']);
    const pid1Before = (await bed.host.exec(['ps', '-o', 'lstart=', '-p', '1'])).stdout.trim();
    const started = Date.now();
    await bed.host.reboot();
    console.log(`bare-host reboot: ${Date.now() - started} ms`);
    const state = await bed.host.exec(['systemctl', 'is-system-running'], { allowFailure: true });
    assert.match(state.stdout.trim(), /^(running|degraded)$/, await explain());
    assert.notEqual((await bed.host.exec(['test', '-e', '/run/bare-host-before-reboot'], { allowFailure: true })).code, 0, 'the marker in /run is gone');
    assert.notEqual((await bed.host.exec(['ps', '-o', 'lstart=', '-p', '1'])).stdout.trim(), pid1Before, 'PID 1 started again');
  });
});
