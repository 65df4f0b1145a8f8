// `adopt` against the classic hand-built stack (test/bench/classic-stack: distribution stand-in,
// nginx stand-in, bcrypt htpasswd, docker-compose v1) running on this machine, reached over the
// loopback sshd of the deploy bed: what --dry-run finds and plans, read-only.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { jsonResult, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { pushFixtures, type Fixtures } from '../helpers/fixtures.js';
import { dockerRef, skopeoInspectRaw, writeAuthfile } from '../helpers/skopeo.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { TempDirs } from '../helpers/tmp.js';
import type { RunningRegistry } from '../helpers/registries.js';
import { startClassicStack, STACK_USER, type RunningStack } from '../bench/stacks.js';

const PASSWORD = 'e2e-adopt-classic-password';

describe('adopt a classic registry:2 stack', { skip: sshdSkipReason() }, () => {
  const tmp = new TempDirs();
  let bed: DeployBed;
  let classic: RunningStack;
  let fx: Fixtures;
  let registryName = '';
  let context = '';

  const adopt = async (extra: string[]) => {
    const args = ['adopt', bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--compose-project', bed.project, '--yes', ...extra];
    const r = await bed.cli(args);
    context = `registry-setup ${args.join(' ')}\nexit ${r.exitCode}\nstdout:\n${String(r.stdout).slice(-3000)}\nstderr:\n${String(r.stderr).split('\n').slice(-30).join('\n')}`;
    return r;
  };

  before(async () => {
    [bed, classic] = await Promise.all([startDeployBed('adopt'), startClassicStack(PASSWORD, () => {})]);
    registryName = (await execa('docker', ['inspect', '--format', '{{.Name}}', classic.containers.registry])).stdout.replace(/^\//, '');
    // pushed straight to the registry's own published port (plain HTTP), as the guide's users can too
    const direct = { host: `127.0.0.1:${classic.hostPorts[1]}` } as RunningRegistry;
    const authfile = await writeAuthfile(`${await tmp.make('rs-adopt-auth-')}/auth.json`, direct.host, STACK_USER, PASSWORD);
    fx = await pushFixtures(direct, tmp, 'team/app', { imageTags: ['v1', 'latest'], indexTag: 'multi', authfile });
    // the index's digest as the old registry serves it: adopt must record exactly this one
    const served = await skopeoInspectRaw(dockerRef(direct.host, fx.repo, fx.indexTag), { authfile });
    assert.equal(served.digest, fx.index.indexDigest);
  });

  after(async () => {
    await classic?.stop();
    await bed?.cleanup();
    await tmp.cleanup();
  });

  it('--dry-run finds the stack (compose v1 project, data, users, nginx, domain, port) and plans the switch', async () => {
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
    assert.match(found.nginx.certificate.hostCertificate, /\/nginx\/certs\/fullchain\.pem$/);
    assert.deepEqual(res.tags, { total: 3, sampled: 3 }, 'v1, latest and multi are in the data directory');
    assert.ok((res.plan as string[]).some((s) => s.startsWith('record all 3 tags')), context);
    assert.ok(!String(r.stdout).includes('$2y$'), 'the password hashes are not printed');
  });

  it('without --container on a host with several registries, or without --dry-run: one line saying what to do', async () => {
    const other = `rs-adopt-second-${process.pid}`;
    await execa('docker', ['run', '-d', '--name', other, classic.describe.match(/distribution \(([^)]+)\)/)![1]!]);
    try {
      const r = await adopt(['--dry-run']);
      assert.equal(r.exitCode, 1, context);
      assert.match(String(r.stderr), new RegExp(`running registry containers \\(.*${registryName}.*\\): pass --container`), context);
    } finally {
      await execa('docker', ['rm', '-f', other], { reject: false });
    }
    const r = await adopt(['--container', registryName]);
    assert.equal(r.exitCode, 1, context);
    assert.match(String(r.stderr), /^registry-setup: adopt only surveys the host in this version: run it with --dry-run/, context);
  });
});
