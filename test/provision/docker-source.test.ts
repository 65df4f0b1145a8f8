// Where Docker comes from on a host without it: releases by capability (Docker's repository has a
// suite, or the release's own packages give Compose v2), apt's report of a repository it could not
// fetch, and the decisions ensureDocker makes — asserted on the commands it runs against a scripted
// host, the way the deploy runs them.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { AptFetchError, Executor } from '../../src/deploy/executor.js';
import { ensureDocker } from '../../src/deploy/docker-install.js';
import {
  aptFetchFailure,
  checkSupportedOs,
  distributionDockerPackages,
  dockerInstallSteps,
  dockerSuiteProbeArgv,
  parseAptPolicy,
  parseSuiteProbe,
  PreflightError,
  type PreflightReport,
  type SupportedOs,
} from '../../src/provision/index.js';
import type { ExecResult, RemoteHost } from '../../src/remote/index.js';
import { run } from '../helpers/exec.js';

const REPO = 'https://download.docker.com/linux/debian';

// apt 2.9 (Debian 13) output when the name does not resolve: an Err line with the reason below it,
// and a W line at the end; exit 0.
const APT_DNS_FAILURE = `Hit:1 http://deb.debian.org/debian trixie InRelease
Ign:2 https://download.docker.com/linux/debian trixie InRelease
Err:2 https://download.docker.com/linux/debian trixie InRelease
  Could not resolve 'download.docker.com'
Reading package lists...
W: Failed to fetch https://download.docker.com/linux/debian/dists/trixie/InRelease  Could not resolve 'download.docker.com'
W: Some index files failed to download. They have been ignored, or old ones used instead.
`;
const APT_NO_SUITE = `Hit:1 http://deb.debian.org/debian forky InRelease
Ign:2 https://download.docker.com/linux/debian forky InRelease
Err:3 https://download.docker.com/linux/debian forky Release
  404  Not Found [IP: 203.0.113.9 443]
Reading package lists...
E: The repository 'https://download.docker.com/linux/debian forky Release' does not have a Release file.
N: Updating from such a repository can't be done securely, and is therefore disabled by default.
`;
const APT_GPG = `Get:2 https://download.docker.com/linux/debian trixie InRelease [3,104 B]
Err:2 https://download.docker.com/linux/debian trixie InRelease
  The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 7EA0A9C3F273FCD8
Reading package lists...
W: GPG error: https://download.docker.com/linux/debian trixie InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 7EA0A9C3F273FCD8
E: The repository 'https://download.docker.com/linux/debian trixie InRelease' is not signed.
`;
const APT_OTHER_REPO_FAILS = `Err:1 http://deb.debian.org/debian trixie InRelease
  Temporary failure resolving 'deb.debian.org'
Hit:2 https://download.docker.com/linux/debian trixie InRelease
W: Failed to fetch http://deb.debian.org/debian/dists/trixie/InRelease  Temporary failure resolving 'deb.debian.org'
`;

describe("apt's report of a repository it could not fetch", () => {
  test('names the reason, whichever shape apt gives it in', () => {
    assert.equal(aptFetchFailure(APT_DNS_FAILURE, REPO), "Could not resolve 'download.docker.com'");
    assert.equal(aptFetchFailure(APT_NO_SUITE, REPO), '404  Not Found [IP: 203.0.113.9 443]');
    assert.match(aptFetchFailure(APT_GPG, REPO)!, /NO_PUBKEY 7EA0A9C3F273FCD8/);
    assert.equal(aptFetchFailure('E: The repository \'https://download.docker.com/linux/debian forky Release\' does not have a Release file.\n', REPO), 'the repository does not have a Release file');
  });

  test('a fetched repository, or another repository failing, is not blamed on it', () => {
    assert.equal(aptFetchFailure('Hit:1 https://download.docker.com/linux/debian trixie InRelease\nReading package lists...\n', REPO), undefined);
    assert.equal(aptFetchFailure(APT_OTHER_REPO_FAILS, REPO), undefined);
    // a longer URL that merely starts with the same text is another repository
    assert.equal(aptFetchFailure(APT_DNS_FAILURE.replaceAll('linux/debian', 'linux/debianish'), REPO), undefined);
  });

  test("Docker's repository step carries its URL so the executor can check the update", () => {
    const os = checkSupportedOs({ id: 'debian', versionId: '13', codename: 'trixie', prettyName: 'Debian 13' });
    const repoStep = dockerInstallSteps(os, 'amd64').find((s) => s.id === 'docker-apt-repository')!;
    assert.equal(repoStep.aptRepository, REPO);
    assert.ok(repoStep.files?.[0]?.content.toString().includes(`${REPO} trixie stable`));
  });
});

const POLICY = {
  debian12: `docker.io:
  Installed: (none)
  Candidate: 20.10.24+dfsg1-1+deb12u1+b6
  Version table:
     20.10.24+dfsg1-1+deb12u1+b6 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
docker-compose:
  Installed: (none)
  Candidate: 1.29.2-3
  Version table:
     1.29.2-3 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
`,
  debian13: `docker.io:
  Installed: (none)
  Candidate: 26.1.5+dfsg1-9+deb13u1+b1
docker-cli:
  Installed: (none)
  Candidate: 26.1.5+dfsg1-9+deb13u1+b1
docker-compose:
  Installed: (none)
  Candidate: 2.26.1-4
docker-compose-v2:
  Installed: (none)
  Candidate: (none)
`,
  ubuntu2404: `docker.io:
  Installed: (none)
  Candidate: 26.1.3-0ubuntu1~24.04.1
docker-compose:
  Installed: (none)
  Candidate: 1.29.2-6ubuntu1
docker-compose-v2:
  Installed: (none)
  Candidate: 2.27.1+ds1-0ubuntu1~24.04.1
`,
  empty: '',
};

describe("the release's own Docker packages", () => {
  test('Debian 13: docker.io, its split-out CLI and docker-compose 2.x', () => {
    assert.deepEqual(distributionDockerPackages(parseAptPolicy(POLICY.debian13), 'Debian 13'), { packages: ['docker.io', 'docker-cli', 'docker-compose'] });
  });
  test('Ubuntu 24.04: docker.io and docker-compose-v2', () => {
    assert.deepEqual(distributionDockerPackages(parseAptPolicy(POLICY.ubuntu2404), 'Ubuntu 24.04'), { packages: ['docker.io', 'docker-compose-v2'] });
  });
  test('Debian 12 is refused: its docker-compose is Compose v1', () => {
    assert.deepEqual(distributionDockerPackages(parseAptPolicy(POLICY.debian12), 'Debian 12'), { problem: 'Debian 12 has no Compose v2 package (its docker-compose 1.29.2-3 is Compose v1)' });
  });
  test('no package lists at all: no docker.io', () => {
    assert.deepEqual(distributionDockerPackages(parseAptPolicy(POLICY.empty), 'Debian 14'), { problem: 'Debian 14 has no docker.io package' });
  });
});

describe("whether Docker's repository has a suite", () => {
  test('the probe script asks for the Release file and prints the status (curl on this machine)', async () => {
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/linux/debian/dists/trixie/Release' ? 200 : 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const argv = dockerSuiteProbeArgv({ id: 'debian', codename: 'trixie' });
      assert.equal(argv.at(-1), `${REPO}/dists/trixie/Release`);
      const probe = async (codename: string) => {
        const r = await run(argv[0]!, [...argv.slice(1, -1), `http://127.0.0.1:${port}/linux/debian/dists/${codename}/Release`], { allowFailure: true, timeoutMs: 30_000 });
        return parseSuiteProbe({ code: r.code, stdout: r.stdout, stderr: r.stderr });
      };
      assert.deepEqual(await probe('trixie'), { state: 'present' });
      assert.deepEqual(await probe('forky'), { state: 'absent', status: '404' });
    } finally {
      server.close();
    }
    assert.deepEqual(parseSuiteProbe({ code: 127, stdout: '' }), { state: 'unknown', reason: 'the host has neither curl nor wget to ask it' });
    assert.deepEqual(parseSuiteProbe({ code: 0, stdout: '000', stderr: 'curl: (6) Could not resolve host: download.docker.com' }), { state: 'unknown', reason: 'curl: (6) Could not resolve host: download.docker.com' });
  });
});

// ---------------------------------------------------------------------------------------------
// ensureDocker against a scripted host

type Answer = Partial<ExecResult>;

/** A host that answers commands by the first matching rule and records every command it ran. */
function scriptedHost(rules: Array<[RegExp, Answer]>) {
  const ran: string[] = [];
  const host = {
    async exec(argv: readonly string[]): Promise<ExecResult> {
      const line = argv.join(' ');
      ran.push(line);
      const answer = rules.find(([re]) => re.test(line))?.[1] ?? {};
      return { code: answer.code ?? 0, stdout: answer.stdout ?? '', stderr: answer.stderr ?? '' };
    },
    async readFile(): Promise<Buffer | null> {
      return null;
    },
    async upload(path: string): Promise<void> {
      ran.push(`upload ${path}`);
    },
  };
  return { host: host as unknown as RemoteHost, ran };
}

function report(os: SupportedOs, docker: Partial<PreflightReport['docker']> = {}): PreflightReport {
  return { os, arch: 'amd64', disk: {}, docker: { docker: false, daemon: false, compose: null, ...docker }, ports: [], errors: [], warnings: [] };
}

const trixie = checkSupportedOs({ id: 'debian', versionId: '13', codename: 'trixie', prettyName: 'Debian GNU/Linux 13 (trixie)' });
const bookworm = checkSupportedOs({ id: 'debian', versionId: '12', codename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
const forky = checkSupportedOs({ id: 'debian', versionId: '14', codename: 'forky', prettyName: 'Debian GNU/Linux 14 (forky)' });

// after an install, the detection finds the plugin
const INSTALLED: Array<[RegExp, Answer]> = [
  [/^docker --version/, { stdout: 'Docker version 26.1.5+dfsg1, build a72d7cd\n' }],
  [/^docker compose version --short/, { stdout: '2.26.1\n' }],
  [/^docker info/, { stdout: '26.1.5+dfsg1\n' }],
];
const NOT_INSTALLED: Array<[RegExp, Answer]> = [[/dpkg-query/, { code: 1 }], [/^sh -c test -s/, { code: 1 }]];

describe('ensureDocker', () => {
  test('Docker and compose present: nothing runs; an unknown release is said to be untested', async () => {
    const { host, ran } = scriptedHost([]);
    const warnings: string[] = [];
    const r = await ensureDocker(new Executor(host, false), report(forky, { docker: true, daemon: true, compose: 'v2', serverVersion: '27.0.1' }), undefined, (w) => warnings.push(w));
    assert.equal(r.status, 'unchanged');
    assert.deepEqual(ran, []);
    assert.match(warnings.join('\n'), /Debian GNU\/Linux 14 \(forky\) is not among the releases .* going on because Docker is already installed/);
  });

  test("a known release: Docker's repository, then the compose found is used", async () => {
    const { host, ran } = scriptedHost([...NOT_INSTALLED, ...INSTALLED]);
    const r = await ensureDocker(new Executor(host, false), report(trixie), undefined, () => assert.fail('no warning expected'));
    assert.equal(r.status, 'done');
    assert.equal(r.compose, 'v2');
    assert.match(r.detail, /from Docker's apt repository, compose v2/);
    assert.ok(ran.includes(`upload /etc/apt/sources.list.d/docker.list`));
    assert.ok(ran.some((l) => l.includes('apt-get install -y -o DPkg::Lock::Timeout=600 docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin')));
    assert.ok(!ran.some((l) => l.startsWith('apt-cache policy')), 'no look at the distribution');
  });

  test("Docker's repository cannot be fetched: stops there with the URL and apt's reason", async () => {
    const { host, ran } = scriptedHost([...NOT_INSTALLED, [/apt-get update/, { code: 0, stdout: APT_DNS_FAILURE }]]);
    await assert.rejects(ensureDocker(new Executor(host, false), report(trixie), undefined, () => {}), (e: unknown) => {
      assert.ok(e instanceof AptFetchError);
      assert.equal(e.message, `apt-get update could not fetch ${REPO}: Could not resolve 'download.docker.com'`);
      return true;
    });
    assert.ok(!ran.some((l) => l.includes('docker-ce docker-ce-cli')), 'nothing installed after the failed update');
  });

  test('an unknown release with a suite in Docker\'s repository goes on with a warning, checked before any change', async () => {
    const { host, ran } = scriptedHost([[/dists\/forky\/Release/, { stdout: '200' }], ...NOT_INSTALLED, ...INSTALLED]);
    const warnings: string[] = [];
    const r = await ensureDocker(new Executor(host, false), report(forky), undefined, (w) => warnings.push(w));
    assert.equal(r.compose, 'v2');
    assert.match(warnings.join('\n'), /going on because Docker's repository has a suite for forky/);
    assert.match(ran[0]!, /dists\/forky\/Release/, 'the suite is checked first');
  });

  test("an unknown release without a suite uses the release's own packages when they give Compose v2", async () => {
    const { host, ran } = scriptedHost([[/dists\/forky\/Release/, { stdout: '404' }], [/^apt-cache policy/, { stdout: POLICY.debian13 }], ...NOT_INSTALLED, ...INSTALLED]);
    const warnings: string[] = [];
    const r = await ensureDocker(new Executor(host, false), report(forky), undefined, (w) => warnings.push(w));
    assert.match(r.detail, /from the distribution's packages/);
    assert.match(warnings.join('\n'), /Docker's repository has no suite for forky \(https:\/\/download\.docker\.com\/linux\/debian\/dists\/forky\/: HTTP 404\); installing its own docker\.io, docker-cli, docker-compose instead/);
    assert.ok(ran.some((l) => l.includes('apt-get install -y -o DPkg::Lock::Timeout=600 docker.io docker-cli docker-compose')));
    assert.ok(!ran.some((l) => l.includes('download.docker.com/linux/debian/gpg')), "Docker's repository is not added");
  });

  test('an unknown release that neither source serves is refused before anything changes', async () => {
    const { host, ran } = scriptedHost([[/dists\/forky\/Release/, { stdout: '404' }], [/^apt-cache policy/, { stdout: POLICY.debian12 }]]);
    await assert.rejects(ensureDocker(new Executor(host, false), report(forky), undefined, () => {}), (e: unknown) => {
      assert.ok(e instanceof PreflightError);
      assert.match(e.message, /Debian GNU\/Linux 14 \(forky\) is newer than the releases registry-setup knows, Docker's repository has no suite for forky .* and Debian GNU\/Linux 14 \(forky\) has no Compose v2 package .*: install Docker Engine and Compose v2 yourself, then deploy again/);
      return true;
    });
    assert.deepEqual(ran.filter((l) => !/dists\/forky|^apt-cache policy/.test(l)), [], 'only read-only checks ran');
  });

  test('--docker-source distribution on Debian 12 is refused after the package lists are read, before installing', async () => {
    const { host, ran } = scriptedHost([[/^apt-cache policy/, { stdout: POLICY.debian12 }], ...NOT_INSTALLED]);
    await assert.rejects(ensureDocker(new Executor(host, false), report(bookworm), 'distribution', () => {}), /--docker-source distribution: Debian GNU\/Linux 12 \(bookworm\) has no Compose v2 package \(its docker-compose 1\.29\.2-3 is Compose v1\); deploy with --docker-source docker/);
    assert.ok(!ran.some((l) => l.includes('apt-get install')), 'nothing installed');
  });

  test('--docker-source distribution on Debian 13 installs docker.io, docker-cli and docker-compose', async () => {
    const { host, ran } = scriptedHost([[/^apt-cache policy/, { stdout: POLICY.debian13 }], ...NOT_INSTALLED, ...INSTALLED]);
    const r = await ensureDocker(new Executor(host, false), report(trixie), 'distribution', () => {});
    assert.equal(r.compose, 'v2');
    const update = ran.findIndex((l) => l.includes('apt-get update'));
    const install = ran.findIndex((l) => l.includes('apt-get install -y -o DPkg::Lock::Timeout=600 docker.io docker-cli docker-compose'));
    assert.ok(update >= 0 && install > update, ran.join('\n'));
    assert.ok(!ran.some((l) => l.includes('docker-ce ')), "no Docker repository packages");
  });

  test('a dry run reads but installs nothing and updates no package list', async () => {
    const { host, ran } = scriptedHost([[/^apt-cache policy/, { stdout: POLICY.debian13 }], ...NOT_INSTALLED]);
    const r = await ensureDocker(new Executor(host, true), report(trixie), 'distribution', () => {});
    assert.equal(r.status, 'planned');
    assert.ok(!ran.some((l) => /apt-get (update|install)|systemctl/.test(l)), ran.join('\n'));
  });
});
