// `adopt` against the classic hand-built stack (test/bench/classic-stack: distribution stand-in,
// nginx stand-in, bcrypt htpasswd, docker-compose v1) running on this machine, reached over the
// loopback sshd of the deploy bed: what --dry-run finds and plans, read-only.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
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

const PASSWORD = 'e2e-adopt-classic-password';

/** What a dry run must leave alone: the stack's containers (id, state, start time) and every file of its directory (path, owner, mode, size, mtime). */
async function snapshot(containers: string[], dir: string): Promise<string> {
  const inspect = await execa('docker', ['inspect', '--format', '{{.Id}} {{.State.Status}} {{.State.StartedAt}}', ...containers]);
  const files = await execa('find', [dir, '-printf', '%p %u:%g %m %s %T@\\n']);
  return `${inspect.stdout}\n${files.stdout.split('\n').sort().join('\n')}`;
}

describe('adopt a classic registry:2 stack', { skip: sshdSkipReason() }, () => {
  const tmp = new TempDirs();
  let bed: DeployBed;
  let classic: RunningStack;
  let fx: Fixtures;
  let registryName = '';
  let context = '';

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
    assert.match(found.nginx.certificate.hostCertificate, /\/nginx\/certs\/fullchain\.pem$/);
    assert.deepEqual(res.tags, { total: 3, sampled: 3 }, 'v1, latest and multi are in the data directory');
    assert.ok((res.plan as string[]).some((s) => s.startsWith('record all 3 tags')), context);
    assert.ok(!String(r.stdout).includes('$2y$'), 'the password hashes are not printed');
    const human = await adopt(['--container', registryName, '--dry-run']);
    assert.equal(human.exitCode, 0, context);
    assert.match(String(human.stdout), new RegExp(`^registry: +${registryName} .*compose v1 project`, 'm'), context);
    assert.match(String(human.stdout), /^tags: +3$/m, context);
    assert.match(String(human.stdout), /^The plan \(nothing was changed\):\n  1\. record all 3 tags/m, context);
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
    assert.match(String(r.stderr), /^registry-setup: adopt only surveys the host in this version: run it with --dry-run/, context);
  });
});
