// `adopt` against the classic hand-built stack (test/bench/classic-stack: distribution stand-in,
// nginx stand-in, bcrypt htpasswd, docker-compose v1) running on this machine, reached over the
// loopback sshd of the deploy bed: what --dry-run finds and plans, read-only; the switch, with
// certbot's certificate (certbot's layout under the fixture's own root) taken over for renewal,
// and --rollback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { execa } from 'execa';
import { startPty } from '../helpers/pty.js';
import { repoRoot } from '../helpers/registries.js';
import { jsonResult, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { pushFixtures, type Fixtures } from '../helpers/fixtures.js';
import { dockerRef, skopeoInspectRaw, writeAuthfile } from '../helpers/skopeo.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { TempDirs } from '../helpers/tmp.js';
import type { RunningRegistry } from '../helpers/registries.js';
import { startClassicStack, STACK_USER, type RunningStack } from '../bench/stacks.js';
import { assertFixturesRoundTrip } from '../helpers/fixtures.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { sha256 } from '../helpers/oci.js';

const PASSWORD = 'e2e-adopt-classic-password';

/** What a dry run must leave alone: the stack's containers (id, state, start time) and every file of its directory (path, owner, mode, size, mtime). */
async function snapshot(containers: string[], dir: string): Promise<string> {
  const inspect = await execa('docker', ['inspect', '--format', '{{.Id}} {{.State.Status}} {{.State.StartedAt}}', ...containers]);
  const files = await execa('find', [dir, '-printf', '%p %u:%g %m %s %T@\\n']);
  return `${inspect.stdout}\n${files.stdout.split('\n').sort().join('\n')}`;
}

/** The certificate served on https://localhost:<port> (not verified: the serial is what is compared). */
function servedCertificate(port: string): Promise<{ serialNumber: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: Number(port), servername: 'localhost', rejectUnauthorized: false, timeout: 10_000 }, () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      resolve({ serialNumber: cert.serialNumber });
    });
    socket.on('timeout', () => socket.destroy(new Error(`TLS to 127.0.0.1:${port} timed out`)));
    socket.on('error', reject);
  });
}

describe('adopt a classic registry:2 stack', { skip: sshdSkipReason() }, () => {
  const tmp = new TempDirs();
  let bed: DeployBed;
  let classic: RunningStack;
  let fx: Fixtures;
  let registryName = '';
  let context = '';
  let authfile = '';
  let signature = { tag: '', digest: '' };

  /** the serial of certbot's live/localhost/cert.pem */
  const certbotSerial = () => new X509Certificate(readFileSync(`${classic.certbot!.root}/live/localhost/cert.pem`)).serialNumber;

  const adopt = async (extra: string[]) => {
    const args = ['adopt', bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--yes', ...extra];
    const r = await bed.cli(args);
    context = `registry-setup ${args.join(' ')}\nexit ${r.exitCode}\nstdout:\n${String(r.stdout).slice(-3000)}\nstderr:\n${String(r.stderr).split('\n').slice(-30).join('\n')}`;
    return r;
  };

  before(async () => {
    [bed, classic] = await Promise.all([startDeployBed('adopt'), startClassicStack(PASSWORD, () => {})]);
    registryName = (await execa('docker', ['inspect', '--format', '{{.Name}}', classic.containers.registry])).stdout.replace(/^\//, '');
    // pushed straight to the registry's own published port (plain HTTP), as the guide's users can too
    const direct = { host: `127.0.0.1:${classic.hostPorts[1]}` } as RunningRegistry;
    authfile = await writeAuthfile(`${await tmp.make('rs-adopt-auth-')}/auth.json`, direct.host, STACK_USER, PASSWORD);
    fx = await pushFixtures(direct, tmp, 'team/app', { imageTags: ['v1', 'latest'], indexTag: 'multi', authfile });
    // the index's digest as the old registry serves it: adopt must record exactly this one
    const served = await skopeoInspectRaw(dockerRef(direct.host, fx.repo, fx.indexTag), { authfile });
    assert.equal(served.digest, fx.index.indexDigest);
    // a signature referrer (an OCI manifest with a subject), under the referrers tag schema as cosign tags it
    const client = new RegistryClient({ baseUrl: `http://${direct.host}`, user: STACK_USER, password: PASSWORD });
    const config = Buffer.from('{}');
    const payload = Buffer.from(`signature of ${fx.image.manifestDigest}`);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: await client.pushBlob(fx.repo, config), size: config.length },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: await client.pushBlob(fx.repo, payload), size: payload.length }],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: fx.image.manifestDigest, size: fx.image.manifest.length },
    }));
    signature = { tag: `${fx.image.manifestDigest.replace(':', '-')}.sig`, digest: await client.pushManifest(fx.repo, `${fx.image.manifestDigest.replace(':', '-')}.sig`, manifest, 'application/vnd.oci.image.manifest.v1+json') };
    assert.equal(signature.digest, sha256(manifest));
  });

  after(async () => {
    await classic?.stop();
    await bed?.cleanup();
    await tmp.cleanup();
  });

  it('--dry-run finds the stack (compose v1 project, data, users, nginx, domain, port) and plans the switch, changing nothing', async () => {
    // the compose project's working directory: registry/data, registry/registry.password, nginx/…
    const dataDir = (await execa('docker', ['inspect', '--format', '{{range .Mounts}}{{if eq .Destination "/data"}}{{.Source}}{{end}}{{end}}', classic.containers.registry])).stdout;
    const stackDir = path.dirname(path.dirname(dataDir));
    const before = await snapshot([classic.containers.registry, classic.containers.nginx], stackDir);
    const r = await adopt(['--container', registryName, '--dry-run', '--json']);
    assert.equal(r.exitCode, 0, context);
    const res = jsonResult(String(r.stdout));
    const found = res.found as Record<string, any>;
    assert.equal(res.dryRun, true);
    assert.equal(found.registry.name, registryName, context);
    assert.equal(found.registry.compose.flavour, 'v1');
    assert.match(found.registry.data.hostPath, /\/registry\/data$/);
    assert.equal(found.registry.data.kind, 'bind');
    assert.deepEqual(found.registry.htpasswd.users, [STACK_USER]);
    assert.equal(found.nginx.kind, 'container');
    assert.equal(found.nginx.domain, 'localhost');
    assert.equal(`https://localhost:${found.nginx.httpsPort}`, classic.url);
    // certbot's live/<name>/ under the fixture's own root (not /etc/letsencrypt), and its cron file beside it
    assert.equal(found.nginx.certificate.hostCertificate, `${classic.certbot!.root}/live/localhost/fullchain.pem`);
    assert.deepEqual(found.nginx.certificate.letsencrypt, { name: 'localhost', servedInPlace: true, root: classic.certbot!.root });
    assert.ok(found.certbot.cron.includes(classic.certbot!.cron), context);
    assert.ok((res.plan as string[]).some((s) => s === `disable (not delete) certbot's lines in ${classic.certbot!.cron} (commented out with a #disabled-by-registry-setup# mark)`), context);
    assert.deepEqual(res.tags, { total: 4, sampled: 4 }, 'v1, latest, multi and the signature are in the data directory');
    assert.ok((res.plan as string[]).some((s) => s.startsWith('record all 4 tags')), context);
    assert.ok(!String(r.stdout).includes('$2y$'), 'the password hashes are not printed');
    const human = await adopt(['--container', registryName, '--dry-run']);
    assert.equal(human.exitCode, 0, context);
    assert.match(String(human.stdout), new RegExp(`^registry: +${registryName} .*compose v1 project`, 'm'), context);
    assert.match(String(human.stdout), /^tags: +4$/m, context);
    assert.match(String(human.stdout), /^The plan \(nothing was changed\):\n  1\. record all 4 tags/m, context);
    assert.equal(await snapshot([classic.containers.registry, classic.containers.nginx], stackDir), before, 'a dry run changes no container and no file of the stack');
  });

  it('without --container on a host with several registries, or without --dry-run: one line saying what to do', async () => {
    const other = `rs-adopt-second-${process.pid}`;
    await execa('docker', ['run', '-d', '--name', other, classic.describe.match(/distribution \(([^)]+)\)/)![1]!]);
    try {
      const r = await adopt(['--dry-run']);
      assert.equal(r.exitCode, 1, context);
      assert.match(String(r.stderr), new RegExp(`running registry containers \\(.*${registryName}.*\\): pass --container`), context);
      // on a terminal it is a question instead; typing the name picks it (the host key is known by now)
      const argv = ['adopt', bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--dry-run'];
      const term = startPty([process.execPath, path.join(repoRoot, 'bin/registry-setup.js'), ...argv], { cwd: bed.home, env: { HOME: bed.home, SSH_AUTH_SOCK: '', NO_COLOR: '1' } });
      try {
        await term.expect(/running\s+registry\s+containers\s+\(--container\s+skips\s+this\s+question\)\.\s+Which\s+one\?/);
        term.send(registryName);
        await term.expect(new RegExp(`❯\\s+${registryName}`));
        term.send('\r');
        assert.equal(await term.exited, 0, term.output());
        assert.match(term.output(), new RegExp(`registry: +${registryName} `), term.output());
      } finally {
        term.kill();
      }
    } finally {
      await execa('docker', ['rm', '-f', other], { reject: false });
    }
    const r = await adopt(['--container', registryName]);
    assert.equal(r.exitCode, 1, context);
    assert.match(String(r.stderr), /^registry-setup: adopt proves the switch with an existing user's login: pipe that password with --password-stdin/, context);
  });

  it('the switch: the same name and port serve every image with identical digests and the old password; --rollback brings the old stack back', async () => {
    const dataDir = (await execa('docker', ['inspect', '--format', '{{range .Mounts}}{{if eq .Destination "/data"}}{{.Source}}{{end}}{{end}}', classic.containers.registry])).stdout;
    // owner and the base entries (user::, group::, other::); `ls -l`'s group bits show the ACL mask once named entries exist
    const base = async () => `${(await execa('stat', ['-c', '%u:%g', dataDir])).stdout} ${(await execa('getfacl', ['-p', '-n', dataDir])).stdout.split('\n').filter((l) => /^(user|group|other)::/.test(l)).join(' ')}`;
    const ownerBefore = await base();
    const statBefore = (await execa('stat', ['-c', '%u:%g %a', dataDir])).stdout;
    // the ACLs of the files that are there now (our registry adds files of its own, e.g. _retention/, which keep theirs)
    const files = (await execa('find', ['.'], { cwd: dataDir })).stdout.split('\n').sort();
    const aclsOfFiles = async () => (await execa('getfacl', ['-p', '-n', '--', ...files], { cwd: dataDir })).stdout;
    const aclBefore = await aclsOfFiles();
    const port = new URL(classic.url).port;
    const localAuth = await writeAuthfile(`${await tmp.make('rs-adopt-auth-')}/auth.json`, `localhost:${port}`, STACK_USER, PASSWORD);
    const cronBefore = await readFile(classic.certbot!.cron);
    const servedBefore = await servedCertificate(port);
    assert.equal(servedBefore.serialNumber, certbotSerial(), 'the old stack serves certbot\'s certificate');
    const flags = ['--container', registryName, '--password-stdin', '--email', 'admin@example.com', '--http-port', String(bed.httpPort), '--node-image', bed.nodeImage, '--nginx-image', bed.nginxImage, '--compose-project', bed.project, '--publish-address', '127.0.0.1'];
    const args = ['adopt', bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--yes', ...flags, '--json'];
    // a password the old registry does not take: the proof fails and adopt rolls back on its own
    const refused = await bed.cli(args, { input: 'not-the-old-password' });
    context = `registry-setup ${args.join(' ')}\nexit ${refused.exitCode}\nstdout:\n${String(refused.stdout).slice(-3000)}\nstderr:\n${String(refused.stderr).split('\n').slice(-30).join('\n')}`;
    assert.equal(refused.exitCode, 1, context);
    assert.match(String(refused.stderr), /^registry-setup: the proof failed \(a login as admin with the password given was answered 401, not 200\); rolled back: the old stack runs again as it was$/m, context);
    const afterRefusal = (await execa('docker', ['inspect', '--format', '{{.State.Status}}', classic.containers.registry, classic.containers.nginx])).stdout.split('\n');
    assert.deepEqual(afterRefusal, ['running', 'running'], context);
    assert.equal(await aclsOfFiles(), aclBefore, 'the ACLs as they were after the automatic rollback');
    assert.deepEqual(await readFile(classic.certbot!.cron), cronBefore, "certbot's cron file as it was after the automatic rollback");
    const r = await bed.cli(args, { input: PASSWORD });
    context = `registry-setup ${args.join(' ')}\nexit ${r.exitCode}\nstdout:\n${String(r.stdout).slice(-4000)}\nstderr:\n${String(r.stderr).split('\n').slice(-30).join('\n')}`;
    assert.equal(r.exitCode, 0, context);
    assert.deepEqual(jsonResult(String(r.stdout)).proven, { tags: 4, user: STACK_USER }, context);
    // the old containers are stopped, not removed
    const states = (await execa('docker', ['inspect', '--format', '{{.State.Status}}', classic.containers.registry, classic.containers.nginx])).stdout.split('\n');
    assert.deepEqual(states, ['exited', 'exited']);
    assert.equal(await base(), ownerBefore, 'owner and mode of the data directory unchanged');
    assert.match((await execa('getfacl', ['-p', '-n', dataDir])).stdout, /^user:1000:rwx$/m, 'our registry writes through an ACL');
    // the same https://localhost:<port>, now our stack: every image back with its digests, logged in with the old password
    const adopted = { host: `localhost:${port}` } as RunningRegistry;
    await assertFixturesRoundTrip(adopted, tmp, fx, { authfile: localAuth });
    assert.equal((await skopeoInspectRaw(dockerRef(adopted.host, fx.repo, signature.tag), { authfile: localAuth })).digest, signature.digest);
    const served = await execa('docker', ['ps', '--filter', `label=com.docker.compose.project=${bed.project}`, '--format', '{{.Ports}}']);
    assert.match(served.stdout, new RegExp(`:${port}->`), 'our nginx holds the old HTTPS port');
    // certbot's certificate, now renewed by us: tls letsencrypt, the same serial served, our renewal record names it (not due)
    const deployment = JSON.parse(await readFile(path.join(bed.installDir, 'registry-setup.json'), 'utf8')) as { settings: { tls: string; email?: string } };
    assert.equal(deployment.settings.tls, 'letsencrypt');
    assert.equal(deployment.settings.email, 'admin@example.com');
    assert.equal((await servedCertificate(port)).serialNumber, servedBefore.serialNumber, 'our nginx serves certbot\'s certificate');
    const certs = await bed.cli(['certs', 'status', bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--json']);
    assert.equal(certs.exitCode, 0, `${certs.stdout}\n${certs.stderr}`);
    const status = jsonResult(String(certs.stdout));
    const normal = (serial: unknown) => String(serial).toLowerCase().replace(/:/g, '').replace(/^0+/, '');
    assert.equal(normal(status.serial), normal(servedBefore.serialNumber), JSON.stringify(status));
    assert.equal(status.due, false, JSON.stringify(status));
    assert.equal(status.lastResult, 'not-due', 'the renewal record adopt wrote');
    // certbot's cron line disabled (commented out), the file kept
    const cronDuring = await readFile(classic.certbot!.cron, 'utf8');
    assert.match(cronDuring, /^#disabled-by-registry-setup# ?0 \*\/12 \* \* \* root .*certbot -q renew/m, cronDuring);
    assert.doesNotMatch(cronDuring, /^[^#\n].*certbot/m, cronDuring);
    // a wrong password is refused by ours as well
    const wrong = new RegistryClient({ baseUrl: classic.url, user: STACK_USER, password: 'not-the-password', ca: classic.ca });
    assert.equal((await wrong.ping()).authenticated, 401);

    const back = await adopt(['--rollback', '--compose-project', bed.project]);
    assert.equal(back.exitCode, 0, context);
    const statesBack = (await execa('docker', ['inspect', '--format', '{{.State.Status}}', classic.containers.registry, classic.containers.nginx])).stdout.split('\n');
    assert.deepEqual(statesBack, ['running', 'running']);
    assert.equal(await aclsOfFiles(), aclBefore, 'the ACLs as they were');
    assert.equal((await execa('stat', ['-c', '%u:%g %a', dataDir])).stdout, statBefore, 'owner and mode as they were');
    const old = { host: `localhost:${port}` } as RunningRegistry;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ping = await new RegistryClient({ baseUrl: classic.url, user: STACK_USER, password: PASSWORD, ca: classic.ca }).ping().catch(() => undefined);
      if (ping?.authenticated === 200) break;
      assert.ok(Date.now() < deadline, `the old stack does not answer after --rollback:\n${await classic.logTail(30)}`);
      await new Promise((res) => setTimeout(res, 300));
    }
    await assertFixturesRoundTrip(old, tmp, fx, { authfile: localAuth });
    assert.deepEqual(await readFile(classic.certbot!.cron), cronBefore, "certbot's cron file restored byte for byte");
    assert.equal((await servedCertificate(port)).serialNumber, servedBefore.serialNumber, "the old nginx serves certbot's certificate again");
    assert.equal((await skopeoInspectRaw(dockerRef(old.host, fx.repo, signature.tag), { authfile: localAuth })).digest, signature.digest);
    const again = await adopt(['--rollback']);
    assert.equal(again.exitCode, 1, context);
    assert.match(String(again.stderr), /nothing to roll back/, context);
  });
});
