// Day-2 commands (users, status, logs, gc, upgrade, destroy) against ONE real deployment on this
// machine over sshd, in order: the later tests build on what the earlier ones left (the upgrade
// runs before destroy, which re-deploys at the end).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { RegistryClient } from '../../src/client/registry-client.js';
import { jsonEvents, jsonResult, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { buildOciImage, buildOciIndex, readBlob, readLayoutImage, readLayoutIndexImage, MEDIA, sha256, type BuiltImage, type BuiltIndex } from '../helpers/oci.js';
import { skopeo } from '../helpers/skopeo.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';
import { startTraffic, type TrafficReport } from '../helpers/registry-traffic.js';
import { startPty } from '../helpers/pty.js';
import { repoRoot } from '../helpers/registries.js';

const PASSWORD = 'e2e-day2-password-1';
// The upgrade's version (its image tag): this run's own, as the Docker engine (and its tags) may be shared
// with another run of this file building its own payload.
const UPGRADED = `0.2.0-day2.${process.pid}`;
const esc = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const NO_DEPLOYMENT = (dir: string) => `registry-setup: no registry-setup deployment found in ${dir} on 127.0.0.1; run registry-setup deploy first`;

interface Container {
  id: string;
  service: string;
  startedAt: string;
}

async function containers(project: string): Promise<Container[]> {
  const ids = (await execa('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`])).stdout.split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const out = (await execa('docker', ['inspect', '--format', '{{.Id}} {{index .Config.Labels "com.docker.compose.service"}} {{.State.StartedAt}}', ...ids])).stdout;
  return out.split('\n').map((l) => {
    const [id, service, startedAt] = l.split(' ');
    return { id: id!, service: service!, startedAt: startedAt! };
  });
}

const fileHash = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('day-2 commands over SSH', { skip: sshdSkipReason() }, () => {
  let bed: DeployBed;
  let work: string;
  let certDir: string;
  let ca: Buffer;
  let base: BuiltImage;
  let context = '';
  const host = () => `localhost:${bed.httpsPort}`;

  /** `<words…> <target> <positional…> <host flags> <extra…>` */
  const hostArgs = (words: string[], positional: string[] = [], extra: string[] = [], dir = bed.installDir) => [
    ...words, bed.sshd.target('root'), ...positional, '-i', bed.sshd.clientKeyPath, '--dir', dir, '--compose-project', bed.project, ...extra,
  ];
  const rs = async (words: string[], positional: string[] = [], extra: string[] = [], opts: { input?: string; env?: Record<string, string>; dir?: string } = {}) => {
    const args = hostArgs(words, positional, extra, opts.dir);
    const r = await bed.cli(args, { input: opts.input, env: opts.env });
    context = `registry-setup ${args.join(' ')}\nexit ${r.exitCode}\nstdout:\n${String(r.stdout).slice(-3000)}\nstderr:\n${String(r.stderr).split('\n').slice(-30).join('\n')}`;
    return r;
  };
  const client = (user = 'admin', password = PASSWORD) => new RegistryClient({ baseUrl: `https://${host()}`, user, password, ca });
  const ping = async (user: string, password: string) => (await client(user, password).request('GET', '/v2/')).status;

  /** Pulls an image by digest with skopeo into a fresh layout and checks every blob. */
  const pullByDigest = async (repo: string, digest: string) => {
    const dir = await makeTempDir('rs-day2-pull-');
    try {
      await skopeo(['copy', '--src-cert-dir', certDir, '--src-creds', `admin:${PASSWORD}`, `docker://${host()}/${repo}@${digest}`, `oci:${dir}:pulled`], { redact: [PASSWORD] });
      return await readLayoutImage(dir, digest);
    } finally {
      await removeDir(dir);
    }
  };
  const push = async (layout: string, tag: string, repo: string, all = false) =>
    skopeo(['copy', ...(all ? ['--all'] : []), '--dest-cert-dir', certDir, '--dest-creds', `admin:${PASSWORD}`, `oci:${layout}:${tag}`, `docker://${host()}/${repo}:${tag}`], { redact: [PASSWORD] });

  before(async () => {
    bed = await startDeployBed('day2');
    const r = await bed.cli(bed.deployArgs(['--password-stdin']), { input: PASSWORD });
    assert.equal(r.exitCode, 0, `deploy failed:\n${String(r.stderr).slice(-3000)}`);
    work = await makeTempDir('rs-day2-work-');
    certDir = path.join(work, 'certs');
    mkdirSync(certDir);
    ca = readFileSync(path.join(bed.installDir, 'tls/fullchain.pem'));
    writeFileSync(path.join(certDir, 'ca.crt'), ca);
    base = await buildOciImage(path.join(work, 'base'), 'v1', { layerSizes: [1_000, 60_000] });
    await push(path.join(work, 'base'), 'v1', 'day2/app');
  });
  after(async () => {
    await bed?.cleanup();
    if (work) await removeDir(work);
  });

  it('every command on a host without a deployment fails with one clear line', async () => {
    const dir = `${bed.installDir}-missing`;
    const commands: [string[], string[], string[]][] = [
      [['users', 'list'], [], []],
      [['users', 'add'], ['someone'], []],
      [['users', 'remove'], ['someone'], ['--yes']],
      [['users', 'rotate'], ['someone'], []],
      [['status'], [], ['--json']],
      [['logs'], [], []],
      [['gc'], [], []],
      [['upgrade'], [], []],
      [['destroy'], [], ['--yes']],
    ];
    const results = await Promise.all(commands.map(([words, pos, extra]) => rs(words, pos, extra, { dir })));
    for (const [i, r] of results.entries()) {
      const what = commands[i]![0].join(' ');
      assert.equal(r.exitCode, 1, `${what}: ${r.stderr}`);
      const lines = String(r.stderr).split('\n').filter((l) => l && !/^[ℹ✔…⠋]/.test(l));
      assert.deepEqual(lines, [NO_DEPLOYMENT(dir)], `${what} prints exactly one error line`);
    }
  });

  it('users: add shows a generated password once, rotate switches passwords without a restart and lets a pull finish, remove guards the last user', async () => {
    // add: generated (144 bits), shown once, in no log
    let r = await rs(['users', 'add'], ['ci']);
    assert.equal(r.exitCode, 0, context);
    const shown = /shown only this once, store it now\):\n\n\s+(\S+)\n/.exec(String(r.stderr));
    assert.ok(shown, context);
    const first = shown[1]!;
    assert.ok(Buffer.from(first, 'base64url').length >= 16, 'at least 128 random bits');
    assert.equal(String(r.stderr).split(first).length - 1, 1, 'the password is shown exactly once');
    assert.equal(await ping('ci', first), 200);

    r = await rs(['users', 'list'], [], ['--json']);
    assert.equal(r.exitCode, 0, context);
    assert.deepEqual(jsonResult(String(r.stdout)).users, ['admin', 'ci']);
    r = await rs(['users', 'add'], ['ci']);
    assert.equal(r.exitCode, 1);
    assert.match(String(r.stderr), /^registry-setup: user "ci" already exists on 127\.0\.0\.1; give it a new password with registry-setup users rotate$/m);

    // a pull in flight with the old password: a large blob, its response paused half-way
    const blob = randomBytes(24 * 1024 * 1024);
    const blobDigest = await client().pushBlob('day2/big', blob);
    const registryBefore = (await containers(bed.project)).find((c) => c.service === 'registry')!;
    const download = await new Promise<{ status: number; rest: () => Promise<Buffer> }>((resolve, reject) => {
      const req = https.get(`https://${host()}/v2/day2/big/blobs/${blobDigest}`, { ca, headers: { Authorization: `Basic ${Buffer.from(`ci:${first}`).toString('base64')}` }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.once('data', (c: Buffer) => {
          chunks.push(c);
          res.pause();
          resolve({
            status: res.statusCode ?? 0,
            rest: () =>
              new Promise((done, fail) => {
                res.on('data', (d: Buffer) => chunks.push(d));
                res.on('end', () => done(Buffer.concat(chunks)));
                res.on('error', fail);
                res.resume();
              }),
          });
        });
      });
      req.on('error', reject);
    });
    assert.equal(download.status, 200);

    r = await rs(['users', 'rotate'], ['ci'], ['--json']);
    assert.equal(r.exitCode, 0, context);
    const events = jsonEvents(String(r.stdout));
    const second = String(events.find((e) => e.type === 'result')!.password);
    assert.notEqual(second, first);
    const written = Date.parse(String(events.find((e) => e.type === 'step-end' && e.id === 'write')!.time));
    // old password refused and new one accepted within 2 s of the file being replaced
    for (;;) {
      const [oldStatus, newStatus] = [await ping('ci', first), await ping('ci', second)];
      if (oldStatus === 401 && newStatus === 200) break;
      assert.ok(Date.now() - written < 2_000, `after ${Date.now() - written} ms: old ${oldStatus}, new ${newStatus}`);
      await delay(100);
    }
    assert.ok(Date.now() - written < 2_000, `switched only after ${Date.now() - written} ms`);
    const pulled = await download.rest();
    assert.equal(sha256(pulled), blobDigest, 'the pull that was in flight completed intact');
    const registryAfter = (await containers(bed.project)).find((c) => c.service === 'registry')!;
    assert.deepEqual(registryAfter, registryBefore, 'the registry container was not restarted');

    // passwords never reach the command logs
    const logDir = path.join(bed.home, '.registry-setup/logs');
    for (const log of readdirSync(logDir)) {
      const text = readFileSync(path.join(logDir, log), 'utf8');
      for (const secret of [first, second, PASSWORD]) assert.ok(!text.includes(secret), `${log} contains a password`);
    }

    // remove; the last user needs --yes
    r = await rs(['users', 'remove'], ['ci']);
    assert.equal(r.exitCode, 0, context);
    for (const deadline = Date.now() + 2_000; (await ping('ci', second)) !== 401; await delay(100)) assert.ok(Date.now() < deadline, 'ci refused within 2 s');
    r = await rs(['users', 'remove'], ['admin']);
    assert.equal(r.exitCode, 1);
    assert.match(String(r.stderr), /registry-setup: "admin" is the last user of https:\/\/localhost:\d+: without users nobody can log in; pass --yes to remove it anyway/);
    assert.equal(await ping('admin', PASSWORD), 200, 'still there');
    // on a terminal it asks instead (and "no" changes nothing)
    const term = startPty([process.execPath, path.join(repoRoot, 'bin/registry-setup.js'), ...hostArgs(['users', 'remove'], ['admin'])], { cwd: bed.home, env: { HOME: bed.home, SSH_AUTH_SOCK: '', NO_COLOR: '1' } });
    try {
      await term.expect(/"admin" is the last user of https:\/\/localhost:\d+: without users nobody\s+can\s+log\s+in\.\s+Remove\s+it\?/);
      term.send('n\r');
      assert.equal(await term.exited, 1);
      assert.match(term.output(), /registry-setup: nothing was changed/);
    } finally {
      term.kill();
    }
    assert.equal(await ping('admin', PASSWORD), 200, 'still there after "no"');
    r = await rs(['users', 'remove'], ['admin'], ['--yes', '--json']);
    assert.equal(r.exitCode, 0, context);
    assert.deepEqual(jsonResult(String(r.stdout)).users, []);
    r = await rs(['users', 'add'], ['admin'], ['--password-stdin'], { input: PASSWORD });
    assert.equal(r.exitCode, 0, context);
    assert.ok(!(String(r.stdout) + String(r.stderr)).includes(PASSWORD), 'a password from stdin is never printed');
    assert.equal(await ping('admin', PASSWORD), 200);
  });

  it('status: one JSON result when healthy; exit 1 and the failing checks when nginx is down', async () => {
    let r = await rs(['status'], [], ['--json']);
    assert.equal(r.exitCode, 0, context);
    const doc = jsonResult(String(r.stdout));
    assert.equal(doc.healthy, true);
    assert.deepEqual(doc.versions, { cli: '0.1.0', deployed: '0.1.0', image: '0.1.0' });
    assert.deepEqual(doc.containers.map((c: { service: string; state: string }) => `${c.service} ${c.state}`).sort(), ['nginx running', 'registry running']);
    assert.equal(doc.reachability.anonymous, 401);
    assert.ok(doc.certificate.daysLeft > 300 && doc.certificate.selfSigned === true, JSON.stringify(doc.certificate));
    assert.ok(doc.disk.dataBytes > 24 * 1024 * 1024 && doc.disk.availableBytes > 0, JSON.stringify(doc.disk));
    assert.ok(doc.content.repositories >= 2 && doc.content.tags >= 1, JSON.stringify(doc.content));
    assert.equal(doc.renewal, null);
    assert.deepEqual(doc.checks.map((c: { id: string }) => c.id), ['containers', 'version', 'url', 'certificate', 'disk', 'content', 'renewal', 'gc', 'retention']);

    const nginx = (await containers(bed.project)).find((c) => c.service === 'nginx')!;
    await execa('docker', ['stop', '-t', '1', nginx.id]);
    try {
      r = await rs(['status']);
      assert.equal(r.exitCode, 1, context);
      assert.match(String(r.stdout), /✖ containers +registry running.*; nginx exited/);
      assert.match(String(r.stdout), /✖ url +https:\/\/localhost:\d+\/v2\/ is not reachable from here/);
      assert.match(String(r.stdout), /UNHEALTHY: containers, url/);
    } finally {
      await execa('docker', ['start', nginx.id]);
    }
    for (const deadline = Date.now() + 20_000; ; await delay(200)) {
      try {
        if ((await client().request('GET', '/v2/', { auth: false })).status === 401) break;
      } catch {
        // nginx still starting
      }
      assert.ok(Date.now() < deadline, 'nginx came back');
    }
  });

  it('logs: --tail, --service, --since, and --follow streams until Ctrl-C, which ends it cleanly', async () => {
    const [tail, since] = await Promise.all([rs(['logs'], [], ['--service', 'nginx', '--tail', '5']), rs(['logs'], [], ['--since', '1h', '--tail', '50'])]);
    assert.equal(tail.exitCode, 0, String(tail.stderr));
    assert.match(String(tail.stdout), /nginx_1 .*"GET \/v2\/ HTTP\/1\.1"/);
    assert.doesNotMatch(String(tail.stdout), /registry_1/);
    assert.equal(since.exitCode, 0, String(since.stderr));
    assert.match(String(since.stdout), /^registry \| .*htpasswd reloaded/m, 'the registry noticed the user changes');
    assert.match(String(since.stdout), /^nginx    \| .*"GET \/v2\/ HTTP\/1\.1"/m);
    let r = await rs(['logs'], [], ['--since', 'yesterday']);
    assert.equal(r.exitCode, 1);
    assert.match(String(r.stderr), /^registry-setup: --since "yesterday": give a duration like 1h/m);

    const args = hostArgs(['logs'], [], ['--follow', '--tail', '0', '--service', 'nginx']);
    const child = bed.cli(args) as unknown as ResultPromise;
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const marker = `/v2/follow-${randomBytes(4).toString('hex')}`;
    for (const deadline = Date.now() + 20_000; !out.includes(marker); await delay(200)) {
      await client().request('GET', marker).catch(() => undefined);
      assert.ok(Date.now() < deadline, `--follow showed no new line: ${out}`);
    }
    const stoppedAt = Date.now();
    child.kill('SIGINT');
    const done = await child;
    assert.equal(done.exitCode, 0, String(done.stderr));
    assert.ok(Date.now() - stoppedAt < 5_000, 'Ctrl-C ends --follow promptly');
    assert.doesNotMatch(String(done.stderr), /registry-setup:/);
    // and the remote side is gone too (the watchdog ends it once the channel is closed)
    for (const deadline = Date.now() + 5_000; ; await delay(250)) {
      const ps = await execa('pgrep', ['-f', `-p ${bed.project} .*logs --no-color --follow`], { reject: false });
      if (ps.exitCode !== 0) break;
      assert.ok(Date.now() < deadline, `remote logs process still running: ${ps.stdout}`);
    }
  });

  it('gc: frees an untagged image, keeps a tagged index and its children, records the run for status', async () => {
    const loose = await buildOciImage(path.join(work, 'loose'), 'loose', { layerSizes: [2_000, 50_000] });
    await push(path.join(work, 'loose'), 'loose', 'day2/gc');
    const index: BuiltIndex = await buildOciIndex(path.join(work, 'multi'), 'multi');
    await push(path.join(work, 'multi'), 'multi', 'day2/gc', true);
    const del = await client().request('DELETE', '/v2/day2/gc/manifests/loose');
    assert.equal(del.status, 202);
    const looseBlobs = [loose.configDigest, ...loose.layerDigests];

    let r = await rs(['gc'], [], ['--dry-run', '--delete-untagged', '--grace', '0s']);
    assert.equal(r.exitCode, 0, context);
    assert.match(String(r.stdout), /^garbage collection of .*\/data \(dry run: nothing was deleted\)$/m);
    for (const d of looseBlobs) assert.equal((await client().request('HEAD', `/v2/day2/gc/blobs/${d}`)).status, 200);

    r = await rs(['gc'], [], ['--delete-untagged', '--grace', '0s', '--json']);
    assert.equal(r.exitCode, 0, context);
    const report = jsonResult(String(r.stdout)).report as { deletedManifests: { repo: string; digest: string }[]; deletedBlobs: { digest: string }[]; freedBytes: number };
    assert.deepEqual(report.deletedManifests.filter((m) => m.repo === 'day2/gc'), [{ repo: 'day2/gc', digest: loose.manifestDigest }]);
    const deleted = new Set(report.deletedBlobs.map((b) => b.digest));
    for (const d of [loose.manifestDigest, ...looseBlobs]) assert.ok(deleted.has(d), `${d} freed`);
    for (const d of looseBlobs) assert.equal((await client().request('HEAD', `/v2/day2/gc/blobs/${d}`)).status, 404);
    // the tagged index and every child survive, byte for byte
    const pulledIndex = await (async () => {
      const dir = await makeTempDir('rs-day2-index-');
      try {
        await skopeo(['copy', '--all', '--src-cert-dir', certDir, '--src-creds', `admin:${PASSWORD}`, `docker://${host()}/day2/gc@${index.indexDigest}`, `oci:${dir}:multi`], { redact: [PASSWORD] });
        return await readLayoutIndexImage(dir, index.indexDigest);
      } finally {
        await removeDir(dir);
      }
    })();
    assert.deepEqual(pulledIndex.children.map((c) => c.manifestDigest), index.children.map((c) => c.manifestDigest));
    await pullByDigest('day2/app', base.manifestDigest);

    r = await rs(['status'], [], ['--json']);
    const gcState = jsonResult(String(r.stdout)).gc as Record<string, unknown>;
    assert.equal(gcState.ok, true);
    assert.equal(gcState.freedBytes, report.freedBytes);
    assert.equal(existsSync(path.join(bed.installDir, 'state/gc.json')), true);
  });

  it('gc: a push that finishes its manifest during a run stays intact', async () => {
    const c = client();
    const lock = path.join(bed.installDir, 'data/docker/registry/v2/_gc/lock');
    /** Pushes the layers, starts a remote gc, and PUTs the manifest while it runs; returns how many pushes that took. */
    const race = async (name: string, gcFlags: string[]) => {
      const layout = path.join(work, name);
      const img = await buildOciImage(layout, 'v1', { layerSizes: [100_000] });
      const pushBlobs = async () => Promise.all([img.configDigest, ...img.layerDigests].map(async (d) => c.pushBlob(`day2/${name}`, await readBlob(layout, d))));
      await pushBlobs();
      const gc = rs(['gc'], [], [...gcFlags, '--json']);
      for (const deadline = Date.now() + 30_000; !existsSync(lock); await delay(20)) assert.ok(Date.now() < deadline, 'gc started');
      let pushes = 0;
      for (;;) {
        pushes++;
        const res = await c.request('PUT', `/v2/day2/${name}/manifests/v1`, { body: img.manifest, headers: { 'Content-Type': MEDIA.manifest } });
        if (res.status === 201) break;
        // the run had moved a layer aside: the registry says so (never a 201 with a missing blob), the client pushes again
        assert.equal(res.status, 400, res.body.toString());
        assert.match(res.body.toString(), /BLOB_UNKNOWN/);
        await pushBlobs();
        assert.ok(pushes < 10);
      }
      const r = await gc;
      assert.equal(r.exitCode, 0, context);
      const image = await pullByDigest(`day2/${name}`, img.manifestDigest);
      assert.deepEqual(image.layerDigests, img.layerDigests);
      return pushes;
    };
    // the default grace window protects layers a push uploaded before the run: nothing is disturbed.
    // (An old unreferenced blob gives that run something to collect, so it settles for 2 s.)
    const old = await c.pushBlob('day2/old', randomBytes(10_000));
    const v2 = path.join(bed.installDir, 'data/docker/registry/v2');
    const longAgo = new Date(Date.now() - 3 * 3600_000);
    // (the push touched the repository's `_uploads` folder too, which gc reads as a push under way)
    for (const f of [`blobs/sha256/${old.slice(7, 9)}/${old.slice(7)}/data`, `repositories/day2/old/_layers/sha256/${old.slice(7)}/link`, 'repositories/day2/old/_uploads']) {
      utimesSync(path.join(v2, f), longAgo, longAgo);
    }
    assert.equal(await race('race-grace', []), 1);
    assert.equal((await c.request('HEAD', `/v2/day2/old/blobs/${old}`)).status, 404, 'the old blob was collected');
    // without it the layers are garbage until the manifest arrives; the push still ends up intact
    const pushes = await race('race-nograce', ['--grace', '0s']);
    process.stderr.write(`# gc race without grace: the manifest took ${pushes} push(es)\n`);
  });

  it('deploy with another --data-dir says the images stay behind, and without --yes changes nothing', async () => {
    const compose = fileHash(path.join(bed.installDir, 'compose.yaml'));
    const other = path.join(bed.installDir, 'elsewhere');
    // the host key is known by now: without --yes nothing needs asking but this
    const r = await bed.cli(bed.deployArgs(['--data-dir', other]).filter((a) => a !== '--yes'), { input: '' });
    assert.equal(r.exitCode, 1, String(r.stderr).slice(-2000));
    assert.match(String(r.stderr), new RegExp(`the images are in ${bed.installDir}/data; this deploy makes the registry serve ${other}, which starts empty .*; pass --yes to deploy anyway`));
    assert.equal(fileHash(path.join(bed.installDir, 'compose.yaml')), compose, 'nothing changed');
    assert.equal(existsSync(other), false);
  });

  it('destroy: keeps data, certificates, users and the image, is harmless twice, and a re-deploy serves the old images', async () => {
    const tls = fileHash(path.join(bed.installDir, 'tls/fullchain.pem'));
    const users = fileHash(path.join(bed.installDir, 'auth/htpasswd'));
    let r = await rs(['destroy']);
    assert.equal(r.exitCode, 1, 'refuses without --yes when nobody can be asked');
    assert.match(String(r.stderr), /pass --yes to confirm/);
    assert.ok(existsSync(path.join(bed.installDir, 'compose.yaml')));
    r = await rs(['destroy'], [], ['--dry-run', '--json']);
    assert.equal(r.exitCode, 0, context);
    const plan = jsonResult(String(r.stdout));
    assert.equal(plan.dryRun, true);
    assert.ok((plan.removed as { path: string }[]).some((i) => i.path === path.join(bed.installDir, 'compose.yaml')));
    assert.equal((await containers(bed.project)).length, 2, 'a dry run changes nothing');

    r = await rs(['destroy'], [], ['--yes', '--json']);
    assert.equal(r.exitCode, 0, context);
    const result = jsonResult(String(r.stdout));
    const removed = (result.removed as { path: string }[]).map((i) => i.path);
    const kept = (result.kept as { path: string }[]).map((i) => i.path);
    for (const rel of ['compose.yaml', 'nginx', 'build', 'registry-setup.json', 'webroot']) {
      assert.ok(removed.includes(path.join(bed.installDir, rel)), `${rel} reported removed`);
      assert.ok(!existsSync(path.join(bed.installDir, rel)), `${rel} is gone`);
    }
    assert.ok(removed.some((p) => p.startsWith('container registry')) && removed.some((p) => p.startsWith('container nginx')));
    assert.deepEqual(kept, [...['data', 'tls', 'auth', 'upload-secret', 'state'].map((rel) => path.join(bed.installDir, rel)), 'image registry-setup/registry:0.1.0']);
    assert.deepEqual(await containers(bed.project), []);
    const networks = await execa('docker', ['network', 'ls', '-q', '--filter', `name=${bed.project}_default`]);
    assert.equal(networks.stdout.trim(), '');

    r = await rs(['destroy'], [], ['--yes']);
    assert.equal(r.exitCode, 0, context);
    assert.match(String(r.stderr), /Nothing left to remove[\s\S]*Removed: nothing[\s\S]*Kept:\n\s+- .*\/data \(image data/);
    r = await rs(['status']);
    assert.equal(r.exitCode, 1);
    assert.match(String(r.stderr), new RegExp(`^${NO_DEPLOYMENT(bed.installDir).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));

    r = await bed.cli(bed.deployArgs(['--password-stdin']), { input: PASSWORD });
    assert.equal(r.exitCode, 0, `re-deploy: ${String(r.stderr).slice(-2000)}`);
    assert.equal(fileHash(path.join(bed.installDir, 'tls/fullchain.pem')), tls, 'the kept certificate is used again');
    assert.equal(fileHash(path.join(bed.installDir, 'auth/htpasswd')), users, 'the kept users and passwords are used again');
    await pullByDigest('day2/app', base.manifestDigest);

  });

  /** The stack's last log lines (registry, the second slot while it exists, nginx), for a failure message. */
  const stackLogs = async () =>
    (await execa('docker-compose', ['-p', bed.project, '-f', path.join(bed.installDir, 'compose.yaml'), 'logs', '--no-color', '--tail', '25', 'registry', 'registry-next', 'nginx'], { reject: false })).stdout;
  /** Pushes and pulls through nginx while `during` runs: ~8 requests a round, a round about every second, at most 400 rounds or 5 min. */
  const withTraffic = async <T>(repo: string, during: () => Promise<T>) => {
    const traffic = startTraffic(client(), repo, { maxRounds: 400, maxMs: 300_000, pauseMs: 100 });
    let result: T | undefined;
    let report: TrafficReport = { rounds: 0, requests: 0, failures: [] };
    try {
      result = await during();
    } finally {
      report = await traffic.stop();
    }
    process.stderr.write(`# ${repo}: ${report.rounds} rounds, ${report.requests} requests, ${report.failures.length} failed\n`);
    const failed = report.failures.map((f) => `${f.at} ms ${f.what}: ${f.error}`).join('\n');
    return { result: result as T, report, failed: failed && `${failed}\n${context}\n${await stackLogs()}` };
  };

  it('upgrade: builds while the old registry serves, switches to the new one beside it without failing one push or pull, keeps data, users and certificates; an older CLI refuses', async () => {
    const before = await containers(bed.project);
    const tls = fileHash(path.join(bed.installDir, 'tls/fullchain.pem')) + fileHash(path.join(bed.installDir, 'tls/privkey.pem'));
    const users = fileHash(path.join(bed.installDir, 'auth/htpasswd'));
    const nginxConf = readFileSync(path.join(bed.installDir, 'nginx/nginx.conf'), 'utf8');
    // uploads started before the upgrade and finished after it, on another registry process: one
    // without bytes yet (the old process kept it in memory only), one with its first chunk on disk
    const c = client();
    const octets = { 'Content-Type': 'application/octet-stream' };
    const withDigest = (location: string, digest: string) => `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`;
    const startUpload = async () => {
      const post = await c.request('POST', '/v2/day2/across/blobs/uploads/');
      assert.equal(post.status, 202, post.body.toString());
      return String(post.headers.location);
    };
    const emptySession = await startUpload();
    const [first, second, whole] = [randomBytes(1000), randomBytes(1000), randomBytes(1500)];
    const firstChunk = await c.request('PATCH', await startUpload(), { body: first, headers: { ...octets, 'Content-Range': '0-999' } });
    assert.equal(firstChunk.status, 202);
    // pushes (chunked ones spanning the switch) and pulls through nginx during the whole upgrade
    const upgraded = await withTraffic('day2/traffic', () =>
      rs(['upgrade'], [], ['--json', '--publish-address', '127.0.0.1'], { env: { REGISTRY_SETUP_VERSION_OVERRIDE: UPGRADED } }),
    );
    const { report, failed } = upgraded;
    let r = upgraded.result;
    assert.equal(r.exitCode, 0, context);
    assert.ok(report.rounds >= 5, `only ${report.rounds} rounds of traffic`);
    assert.equal(failed, '', 'not one request failed');
    const events = jsonEvents(String(r.stdout));
    const result = events.find((e) => e.type === 'result')!;
    assert.equal(result.from, '0.1.0');
    assert.equal(result.to, UPGRADED);
    const finished = await c.request('PUT', withDigest(emptySession, sha256(whole)), { body: whole, headers: octets });
    if (finished.status !== 201) assert.fail(`an upload without bytes started before the upgrade (${emptySession}): ${finished.status} ${finished.body.toString()}\n${context}\n${await stackLogs()}`);
    const secondChunk = await c.request('PATCH', String(firstChunk.headers.location), { body: second, headers: { ...octets, 'Content-Range': '1000-1999' } });
    assert.equal(secondChunk.status, 202, `the second chunk of an upload started before the upgrade: ${secondChunk.body.toString()}`);
    const both = Buffer.concat([first, second]);
    assert.equal((await c.request('PUT', withDigest(String(secondChunk.headers.location), sha256(both)))).status, 201);
    for (const bytes of [whole, both]) assert.deepEqual(await c.pullBlob('day2/across', sha256(bytes)), bytes);
    // the second slot is gone and nginx proxies to the registry service again, as deploy writes it
    assert.equal(readFileSync(path.join(bed.installDir, 'nginx/nginx.conf'), 'utf8'), nginxConf);

    const after = await containers(bed.project);
    assert.deepEqual(after.map((c) => c.service).sort(), ['nginx', 'registry']);
    assert.deepEqual(after.find((c) => c.service === 'nginx'), before.find((c) => c.service === 'nginx'), 'nginx was not recreated');
    assert.notEqual(after.find((c) => c.service === 'registry')!.id, before.find((c) => c.service === 'registry')!.id);
    assert.equal(fileHash(path.join(bed.installDir, 'tls/fullchain.pem')) + fileHash(path.join(bed.installDir, 'tls/privkey.pem')), tls);
    assert.equal(fileHash(path.join(bed.installDir, 'auth/htpasswd')), users);
    await pullByDigest('day2/app', base.manifestDigest);
    assert.equal(await ping('admin', PASSWORD), 200);

    r = await rs(['status'], [], ['--json']);
    const doc = jsonResult(String(r.stdout)) as { versions: Record<string, string>; healthy: boolean; checks: { id: string; status: string; detail: string }[] };
    assert.equal(r.exitCode, 0, context);
    assert.deepEqual(doc.versions, { cli: '0.1.0', deployed: UPGRADED, image: UPGRADED });
    assert.match(doc.checks.find((c) => c.id === 'version')!.detail, /this CLI is older than the deployment/);

    // the 0.1.0 CLI against the upgraded deployment
    const record = readFileSync(path.join(bed.installDir, 'registry-setup.json'), 'utf8');
    r = await rs(['upgrade'], [], ['--publish-address', '127.0.0.1']);
    assert.equal(r.exitCode, 1);
    assert.match(String(r.stderr), new RegExp(`^registry-setup: this registry-setup \\(0\\.1\\.0\\) is older than the deployment on 127\\.0\\.0\\.1 \\(${esc(UPGRADED)}\\); install registry-setup ${esc(UPGRADED)} or later, or pass --force to downgrade$`, 'm'));
    assert.equal(readFileSync(path.join(bed.installDir, 'registry-setup.json'), 'utf8'), record);
  });

  it('upgrade to a registry that fails its health check: rolled back, the old one serves throughout, nginx.conf and compose.yaml as before, exit 1 naming the check with its log', async () => {
    // a payload whose registry exits at start, under a version of its own (its image is removed below)
    const version = `0.3.0-rollback${process.pid}`;
    const payload = path.join(work, 'broken-payload');
    mkdirSync(payload, { recursive: true });
    writeFileSync(path.join(payload, 'registry.mjs'), "console.error('broken-registry-for-the-rollback-test: refusing to start'); process.exit(3);\n");
    const files = ['compose.yaml', 'nginx/nginx.conf', 'registry-setup.json'].map((f) => readFileSync(path.join(bed.installDir, f), 'utf8'));
    const before = await containers(bed.project);
    try {
      const { result: r, failed } = await withTraffic('day2/rollback', () =>
        rs(['upgrade'], [], ['--publish-address', '127.0.0.1'], { env: { REGISTRY_SETUP_VERSION_OVERRIDE: version, REGISTRY_SETUP_PAYLOAD_DIR: payload } }),
      );
      assert.equal(r.exitCode, 1, context);
      assert.equal(failed, '', 'the old registry served every request');
      const stderr = String(r.stderr);
      assert.match(stderr, /the new registry \(registry-next\) failed its health check \(node registry\.mjs healthcheck: (restarting|exited)[;)][^\n]*; its last log lines:/, context);
      assert.match(stderr, /broken-registry-for-the-rollback-test: refusing to start/, 'the log tail says why');
      assert.ok(stderr.includes(`Rolled back: the registry runs ${UPGRADED} as before and nginx proxies to it as before`), stderr);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    } finally {
      await execa('docker', ['image', 'rm', '-f', `registry-setup/registry:${version}`], { reject: false });
    }
    assert.deepEqual(['compose.yaml', 'nginx/nginx.conf', 'registry-setup.json'].map((f) => readFileSync(path.join(bed.installDir, f), 'utf8')), files);
    assert.deepEqual(await containers(bed.project), before, 'the same registry and nginx containers, no second slot');
    assert.equal(await ping('admin', PASSWORD), 200);
  });

  it('destroy --purge: after the domain is typed, deletes the data, the certificates and the image too', async () => {
    const term = startPty([process.execPath, path.join(repoRoot, 'bin/registry-setup.js'), ...hostArgs(['destroy'], [], ['--purge'])], { cwd: bed.home, env: { HOME: bed.home, SSH_AUTH_SOCK: '', NO_COLOR: '1' } });
    try {
      await term.expect(/This deletes everything: [^]*\/data \(image data/);
      await term.expect(/Type localhost to delete all images\s+and\s+certificates:/);
      term.send('localhost\r');
      assert.equal(await term.exited, 0, term.output());
    } finally {
      term.kill();
    }
    const r = { stderr: term.output() };
    assert.match(String(r.stderr), /Kept: nothing/);
    assert.ok(!existsSync(bed.installDir), 'the install directory is gone');
    assert.deepEqual(await containers(bed.project), []);
    assert.ok(String(r.stderr).includes(`image registry-setup/registry:${UPGRADED}`), String(r.stderr));
    assert.equal((await execa('docker', ['image', 'inspect', `registry-setup/registry:${UPGRADED}`], { reject: false })).exitCode, 1);
  });
});
