// A new user's first run, for real: the CLI deploys onto a fresh Debian 13 (systemd as PID 1, no
// Docker) booted by the bare-host bed, with Docker's repository and Docker Hub stood in for (see
// test/helpers/bare-host/bed.ts). In order, each step building on the last: first deploy, an
// identical second deploy, a reboot, the day-2 commands, destroy --purge.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { RegistryClient } from '../../src/client/registry-client.js';
import { jsonEvents, jsonResult } from '../helpers/deploy-bed.js';
import { startBareHostBed, tail, type BareHostBed } from '../helpers/bare-host/bed.js';
import { COMPOSE_PROJECT, INSTALL_DIR, firstDeploy } from '../helpers/bare-host/first-deploy.js';
import { bareHostSkipReason } from '../helpers/bare-host/root.js';
import { buildOciImage, type BuiltImage } from '../helpers/oci.js';
import { skopeo } from '../helpers/skopeo.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';

const PASSWORD = 'bare-host-password-1';
const ROTATED = 'bare-host-password-2';
const DIR = INSTALL_DIR;
const PROJECT = COMPOSE_PROJECT;

describe('deploy onto a fresh Debian 13 host', { skip: bareHostSkipReason() }, () => {
  let bed: BareHostBed;
  let work: string;
  let certDir: string;
  let ca: string;
  let image: BuiltImage;
  const timings: Record<string, number> = {};

  const cli = async (args: string[], input = '') => {
    const started = Date.now();
    const r = await bed.cli(args, { input });
    return { r, ms: Date.now() - started, why: async () => `registry-setup ${args.join(' ')}\n${tail(r)}\n${await bed.diagnostics()}` };
  };
  /** `<command…> <target> <login flags> …extra` for the day-2 commands */
  const hostArgs = (words: string[], extra: string[] = []) => [...words, bed.target(), ...bed.loginArgs(), '--yes', ...extra];
  const onHost = async (script: string, ...args: string[]) => (await bed.host.exec(['sh', '-c', script, 'sh', ...args])).stdout.trim();
  /** `<id> <service> <started at>` of the stack's containers, sorted */
  const containerStarts = () =>
    onHost('ids=$(docker ps -aq --filter "label=com.docker.compose.project=$1"); [ -n "$ids" ] || exit 0; docker inspect --format "{{.Id}} {{index .Config.Labels \\"com.docker.compose.service\\"}} {{.State.StartedAt}}" $ids | sort', PROJECT);
  const client = (password = PASSWORD) => new RegistryClient({ baseUrl: `https://${bed.host.address}`, user: 'admin', password, ca, timeoutMs: 10_000 });
  const ref = (repo: string) => `docker://${bed.host.address}/${repo}`;

  before(async () => {
    const started = Date.now();
    bed = await startBareHostBed({ suite: 'trixie', name: 'deploy' });
    timings.bed = Date.now() - started;
    work = await makeTempDir('rs-bare-deploy-work-');
    certDir = path.join(work, 'certs');
    mkdirSync(certDir);
    image = await buildOciImage(path.join(work, 'layout'), 'v1', { layerSizes: [2_000, 300_000] });
  });
  after(async () => {
    console.log(`bare-host deploy timings (ms): ${JSON.stringify({ ...bed?.timings, ...timings })}`);
    await bed?.cleanup();
    if (work) await removeDir(work);
  });

  it('first deploy installs Docker from Docker\'s repository, runs the stack with Compose v2 and proves it', async () => {
    const first = await firstDeploy(bed, PASSWORD);
    timings.firstDeploy = first.ms;
    timings.dockerInstall = first.dockerMs;
    ca = first.ca;
    writeFileSync(path.join(certDir, 'ca.crt'), ca);
  });

  it('skopeo pushes to it and pulls back the same digest', async () => {
    await skopeo(['copy', '--dest-cert-dir', certDir, '--dest-creds', `admin:${PASSWORD}`, `oci:${path.join(work, 'layout')}:v1`, ref('bare/app:v1')], { redact: [PASSWORD] });
    const raw = await skopeo(['inspect', '--raw', '--cert-dir', certDir, '--creds', `admin:${PASSWORD}`, ref('bare/app:v1')], { redact: [PASSWORD] });
    assert.equal(`sha256:${createHash('sha256').update(raw.stdoutBytes).digest('hex')}`, image.manifestDigest);
    const pulled = path.join(work, 'pulled');
    await skopeo(['copy', '--src-cert-dir', certDir, '--src-creds', `admin:${PASSWORD}`, ref(`bare/app@${image.manifestDigest}`), `oci:${pulled}:v1`], { redact: [PASSWORD] });
    const index = JSON.parse(readFileSync(path.join(pulled, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, image.manifestDigest);
  });

  it('a second identical deploy reports unchanged and restarts nothing', async () => {
    const before = await containerStarts();
    assert.equal(before.split('\n').length, 2, before);
    const { r, ms, why } = await cli([...bed.deployArgs(['--json'])]);
    timings.secondDeploy = ms;
    assert.equal(r.exitCode, 0, await why());
    const events = jsonEvents(String(r.stdout));
    assert.deepEqual(events.filter((e) => e.type === 'step-end' && (e.status === 'done' || e.status === 'planned')).map((e) => e.id), [], 'every step reports unchanged');
    assert.equal(events.find((e) => e.type === 'result')!.changed, false);
    assert.equal(await containerStarts(), before, 'no container was recreated or restarted');
  });

  it('after a reboot the stack comes back by itself', async () => {
    const before = await containerStarts();
    const started = Date.now();
    await bed.host.reboot();
    // no command of ours: poll the registry from here until it answers, with a deadline
    const deadline = Date.now() + 120_000;
    let last = '';
    for (;;) {
      try {
        const ping = await client().ping();
        if (ping.anonymous === 401 && ping.authenticated === 200) break;
        last = JSON.stringify(ping);
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline) assert.fail(`the registry did not come back within 120 s of the reboot (last: ${last})\n${await bed.diagnostics()}`);
      await delay(250);
    }
    timings.rebootToRegistry = Date.now() - started;
    assert.notEqual(await containerStarts(), before, 'the containers were started again by the boot');
    const raw = await skopeo(['inspect', '--raw', '--cert-dir', certDir, '--creds', `admin:${PASSWORD}`, ref(`bare/app@${image.manifestDigest}`)], { redact: [PASSWORD] });
    assert.equal(`sha256:${createHash('sha256').update(raw.stdoutBytes).digest('hex')}`, image.manifestDigest, 'the data survived');
  });

  it('status, users rotate, upgrade and gc succeed against the host', async () => {
    let { r, why } = await cli(hostArgs(['status'], ['--json']));
    assert.equal(r.exitCode, 0, await why());
    // --json: JSON lines, the last one the result
    const doc = jsonResult(String(r.stdout)) as { healthy: boolean; reachability: { anonymous?: number }; containers: { service: string; state: string }[] };
    assert.equal(doc.healthy, true, await why());
    assert.equal(doc.reachability.anonymous, 401);
    assert.deepEqual(doc.containers.map((c) => `${c.service} ${c.state}`).sort(), ['nginx running', 'registry running']);

    ({ r, why } = await cli(hostArgs(['users', 'rotate'], ['admin', '--password-stdin']), ROTATED));
    assert.equal(r.exitCode, 0, await why());
    assert.equal((await client(ROTATED).ping()).authenticated, 200);
    assert.equal((await client(PASSWORD).ping()).authenticated, 401, 'the old password no longer works');

    ({ r, why } = await cli(hostArgs(['upgrade'])));
    assert.equal(r.exitCode, 0, await why());
    ({ r, why } = await cli(hostArgs(['gc'])));
    assert.equal(r.exitCode, 0, await why());
    assert.deepEqual(await client(ROTATED).ping(), { anonymous: 401, authenticated: 200 });
  });

  it('destroy --purge --yes leaves no unit, container, network or file of ours, and Docker installed', async () => {
    const { r, why } = await cli(hostArgs(['destroy'], ['--purge']));
    assert.equal(r.exitCode, 0, await why());
    assert.equal(await onHost('docker ps -aq --filter "label=com.docker.compose.project=$1"', PROJECT), '', 'no container');
    assert.equal(await onHost('docker network ls -q --filter "label=com.docker.compose.project=$1"', PROJECT), '', 'no network');
    assert.equal(await onHost('systemctl list-unit-files --no-legend --no-pager "registry-setup*" | cat'), '', 'no unit');
    assert.equal(await onHost('ls -A /etc/systemd/system | grep registry-setup || true'), '');
    assert.equal(await onHost('test -e "$1" && echo present || echo gone', DIR), 'gone', `${DIR} is gone`);
    assert.match(await onHost('dpkg-query -W -f "\\${Status}" docker-ce'), /^install ok installed$/, 'Docker stays');
    assert.match(await onHost('docker info --format "{{.ServerVersion}}"'), /^\d+\./);
  });
});
