// Docker detection, the official-repository install steps (argv only: no internet here), compose argv.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkSupportedOs,
  composeArgv,
  composeCommand,
  dockerDetectCommands,
  dockerInstallSteps,
  dockerReady,
  nginxConfigTestArgv,
  nginxReloadArgv,
  parseDockerDetect,
  type ProbeId,
  type ProbeResult,
  type Step,
} from '../../src/provision/index.js';
import { run } from '../helpers/exec.js';

const ok = (stdout: string): ProbeResult => ({ code: 0, stdout });
const missing: ProbeResult = { code: 127, stdout: '', stderr: 'not found' };

describe('docker detection', () => {
  test('probes', () => {
    assert.deepEqual(
      dockerDetectCommands().map((p) => p.argv),
      [
        ['docker', '--version'],
        ['docker', 'compose', 'version', '--short'],
        ['docker-compose', 'version', '--short'],
        ['docker', 'info', '--format', '{{.ServerVersion}}'],
      ],
    );
  });

  test('nothing installed', () => {
    const facts = parseDockerDetect({ 'docker-cli': missing, 'compose-v2': missing, 'compose-v1': missing, 'docker-daemon': missing });
    assert.deepEqual(facts, { docker: false, daemon: false, compose: null });
    assert.equal(dockerReady(facts), false);
  });

  test('the compose plugin wins over docker-compose', () => {
    const facts = parseDockerDetect({
      'docker-cli': ok('Docker version 27.3.1, build ce12230\n'),
      'compose-v2': ok('v2.29.7\n'),
      'compose-v1': ok('1.29.2\n'),
      'docker-daemon': ok('27.3.1\n'),
    });
    assert.deepEqual(facts, { docker: true, dockerVersion: '27.3.1', daemon: true, serverVersion: '27.3.1', compose: 'v2', composeVersion: '2.29.7' });
    assert.equal(dockerReady(facts), true);
  });

  test('docker.io + docker-compose 1.29 (this test machine) → v1', () => {
    const facts = parseDockerDetect({
      'docker-cli': ok('Docker version 20.10.24+dfsg1, build 297e128\n'),
      'compose-v2': { code: 1, stdout: '', stderr: "docker: 'compose' is not a docker command." },
      'compose-v1': ok('1.29.2\n'),
      'docker-daemon': { code: 1, stdout: '', stderr: 'permission denied' },
    });
    assert.equal(facts.compose, 'v1');
    assert.equal(facts.composeVersion, '1.29.2');
    assert.equal(facts.daemon, false);
    assert.equal(facts.dockerVersion, '20.10.24+dfsg1');
  });

  test('docker-compose older than 1.27 is not usable', () => {
    const facts = parseDockerDetect({ 'docker-cli': ok('Docker version 19.03.8, build afacb8b\n'), 'compose-v1': ok('1.25.0\n') });
    assert.equal(facts.compose, null);
    assert.match(facts.composeNote!, /docker-compose 1\.25\.0 is too old/);
  });

  test('detection on this machine', async () => {
    const results: Partial<Record<ProbeId, ProbeResult>> = {};
    for (const probe of dockerDetectCommands()) {
      const r = await run(probe.argv[0]!, probe.argv.slice(1), { allowFailure: true, timeoutMs: 30_000 }).catch(() => missing);
      results[probe.id] = { code: r.code, stdout: r.stdout };
    }
    const facts = parseDockerDetect(results);
    // informative only: whatever is installed must parse consistently
    if (facts.compose) assert.match(facts.composeVersion!, /^\d+\.\d+/);
  });
});

describe('docker install steps (official apt repository)', () => {
  const jammy = checkSupportedOs({ id: 'ubuntu', versionId: '22.04', codename: 'jammy', prettyName: 'Ubuntu 22.04' });
  const bookworm = checkSupportedOs({ id: 'debian', versionId: '12', codename: 'bookworm', prettyName: 'Debian 12' });

  function allCommands(steps: Step[]): string[][] {
    return steps.flatMap((s) => [...(s.check ? [s.check] : []), ...s.commands]);
  }

  test('Ubuntu: keyring, sources entry with the codename, packages', () => {
    const steps = dockerInstallSteps(jammy, 'amd64');
    assert.deepEqual(steps.map((s) => s.id), ['docker-remove-conflicts', 'docker-apt-prerequisites', 'docker-apt-repository', 'docker-install', 'docker-verify']);
    for (const s of steps) assert.equal(s.needsSudo, true, s.id);

    const conflicts = steps[0]!;
    assert.deepEqual(conflicts.commands[0]!.slice(0, 2), ['sh', '-c']);
    assert.deepEqual(conflicts.commands[0]!.slice(3), ['sh', 'docker.io', 'docker-compose', 'docker-compose-v2', 'docker-doc', 'podman-docker', 'containerd', 'runc']);
    assert.match(conflicts.commands[0]![2]!, /env DEBIAN_FRONTEND=noninteractive apt-get remove -y -o DPkg::Lock::Timeout=600 \$installed/);

    const repo = steps[2]!;
    assert.deepEqual(repo.commands, [
      ['install', '-m', '0755', '-d', '/etc/apt/keyrings'],
      ['curl', '-fsSL', '--retry', '3', 'https://download.docker.com/linux/ubuntu/gpg', '-o', '/etc/apt/keyrings/docker.asc'],
      ['chmod', 'a+r', '/etc/apt/keyrings/docker.asc'],
      ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update', '-o', 'DPkg::Lock::Timeout=600'],
    ]);
    assert.deepEqual(repo.files, [
      {
        path: '/etc/apt/sources.list.d/docker.list',
        content: 'deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu jammy stable\n',
        mode: 0o644,
      },
    ]);
    assert.equal(repo.check!.at(-1), 'deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu jammy stable');

    const install = steps[3]!;
    assert.deepEqual(install.commands[0], [
      'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-o', 'DPkg::Lock::Timeout=600',
      'docker-ce', 'docker-ce-cli', 'containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin',
    ]);
    assert.deepEqual(install.check!.slice(3), ['sh', 'docker-ce', 'docker-ce-cli', 'containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin']);
  });

  test('Debian arm64 uses linux/debian and its codename', () => {
    const steps = dockerInstallSteps(bookworm, 'arm64');
    const repo = steps.find((s) => s.id === 'docker-apt-repository')!;
    assert.equal(repo.files![0]!.content, 'deb [arch=arm64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian bookworm stable\n');
    assert.ok(repo.commands.some((c) => c.includes('https://download.docker.com/linux/debian/gpg')));
  });

  test('every apt-get runs non-interactively and waits for the dpkg lock', () => {
    for (const os of [jammy, bookworm]) {
      for (const argv of allCommands(dockerInstallSteps(os, 'amd64'))) {
        const text = argv.join(' ');
        for (const m of text.matchAll(/apt-get (\w+)/g)) {
          const at = m.index!;
          assert.match(text.slice(Math.max(0, at - 40), at), /env DEBIAN_FRONTEND=noninteractive $/, text);
          assert.match(text.slice(at), /^apt-get \w+ (-y )?-o DPkg::Lock::Timeout=600/, text);
        }
      }
    }
  });

  test('the dpkg scripts behave (run here against real package names)', async () => {
    const steps = dockerInstallSteps(bookworm, 'amd64');
    const prereq = steps.find((s) => s.id === 'docker-apt-prerequisites')!.check!;
    // dpkg itself is always installed; a made-up name never is
    const withPkgs = (argv: string[], pkgs: string[]): string[] => [...argv.slice(0, 4), ...pkgs];
    assert.equal((await run(prereq[0]!, withPkgs(prereq, ['dpkg']).slice(1), { allowFailure: true })).code, 0);
    assert.equal((await run(prereq[0]!, withPkgs(prereq, ['dpkg', 'no-such-package-rs']).slice(1), { allowFailure: true })).code, 1);
    const none = steps[0]!.check!;
    assert.equal((await run(none[0]!, withPkgs(none, ['no-such-package-rs']).slice(1), { allowFailure: true })).code, 0);
    assert.equal((await run(none[0]!, withPkgs(none, ['no-such-package-rs', 'dpkg']).slice(1), { allowFailure: true })).code, 1);
  });

  test('refuses a bad codename', () => {
    assert.throws(() => dockerInstallSteps({ ...jammy, codename: 'jammy stable\ndeb x' }, 'amd64'), /bad release codename/);
  });
});

describe('compose argv', () => {
  test('v2 and v1', () => {
    assert.deepEqual(composeCommand('v2', '/opt/registry-setup', 'up', '-d'), ['docker', 'compose', '-p', 'registry-setup', '-f', '/opt/registry-setup/compose.yaml', 'up', '-d']);
    assert.deepEqual(composeCommand('v1', '/opt/registry-setup/', 'ps'), ['docker-compose', '-p', 'registry-setup', '-f', '/opt/registry-setup/compose.yaml', 'ps']);
  });
  test('helpers', () => {
    const t = { kind: 'v1' as const, dir: '/d', project: 'rs-test-1' };
    assert.deepEqual(nginxReloadArgv(t).slice(0, 2), ['sh', '-c']);
    assert.deepEqual(nginxReloadArgv(t).slice(9), ['exec', '-T', 'nginx', 'nginx', '-c', '/etc/registry-setup/nginx/nginx.conf', '-s', 'reload']);
    assert.deepEqual(nginxConfigTestArgv({ kind: 'v2', dir: '/d' }), [
      'docker', 'compose', '-p', 'registry-setup', '-f', '/d/compose.yaml',
      'run', '--rm', '--no-deps', '-T', 'nginx', 'nginx', '-t', '-c', '/etc/registry-setup/nginx/nginx.conf',
    ]);
    assert.throws(() => composeArgv({ kind: 'v2', dir: '/d', project: 'Bad Name' }), /project name/);
  });
});
