// Pre-flight parsers and checks: os-release, uname -m, df -Pk, ss -ltnH, docker ps ports.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  PreflightError,
  assessPreflight,
  checkDiskSpace,
  checkPort,
  checkSupportedOs,
  diskFreeArgv,
  ourContainersArgv,
  parseDfPk,
  parseDockerPsPorts,
  parseOsRelease,
  parseSsListening,
  parseUnameMachine,
  preflightCommands,
  type ProbeId,
  type ProbeResult,
} from '../../src/provision/index.js';
import { run } from '../helpers/exec.js';

const UBUNTU_2204 = `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
UBUNTU_CODENAME=jammy
`;
const DEBIAN_12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`;
const UBUNTU_2004_NO_CODENAME = `NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID='20.04'
`;
const CENTOS = `NAME="CentOS Stream"
VERSION="9"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="9"
PRETTY_NAME="CentOS Stream 9"
`;
const DEBIAN_SID = `PRETTY_NAME="Debian GNU/Linux trixie/sid"
NAME="Debian GNU/Linux"
VERSION_CODENAME=trixie
ID=debian
`;
const MINT = `NAME="Linux Mint"
VERSION="21.3 (Virginia)"
ID=linuxmint
ID_LIKE="ubuntu debian"
PRETTY_NAME="Linux Mint 21.3"
VERSION_ID="21.3"
VERSION_CODENAME=virginia
UBUNTU_CODENAME=jammy
`;

describe('os-release', () => {
  test('parses quoted and unquoted values', () => {
    assert.deepEqual(parseOsRelease(UBUNTU_2204), { id: 'ubuntu', versionId: '22.04', codename: 'jammy', prettyName: 'Ubuntu 22.04.4 LTS' });
    assert.deepEqual(parseOsRelease(DEBIAN_12), { id: 'debian', versionId: '12', codename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
    assert.deepEqual(parseOsRelease('# comment\nID="ubu\\"ntu"\r\nVERSION_ID=1\n'), { id: 'ubu"ntu', versionId: '1', codename: '', prettyName: 'ubu"ntu' });
  });

  test('accepts Ubuntu 20.04/22.04/24.04 and Debian 11/12/13', () => {
    for (const [id, versionId, codename] of [
      ['ubuntu', '20.04', 'focal'],
      ['ubuntu', '22.04', 'jammy'],
      ['ubuntu', '24.04', 'noble'],
      ['debian', '11', 'bullseye'],
      ['debian', '12', 'bookworm'],
      ['debian', '13', 'trixie'],
    ] as const) {
      const os = checkSupportedOs({ id, versionId, codename, prettyName: `${id} ${versionId}` });
      assert.equal(os.codename, codename);
    }
    assert.equal(checkSupportedOs(parseOsRelease(DEBIAN_12)).codename, 'bookworm');
  });

  test('fills in a missing codename from the release table', () => {
    assert.equal(checkSupportedOs(parseOsRelease(UBUNTU_2004_NO_CODENAME)).codename, 'focal');
  });

  test('refuses other systems and releases, naming what was found and what is supported', () => {
    const cases: Array<[string, RegExp]> = [
      [CENTOS, /unsupported operating system: found CentOS Stream 9 \(ID=centos, VERSION_ID=9\)/],
      [DEBIAN_SID, /unsupported Debian release: found Debian GNU\/Linux trixie\/sid \(ID=debian, VERSION_ID=\?\)/],
      [MINT, /found Linux Mint 21\.3 \(ID=linuxmint/],
      [UBUNTU_2204.replace(/22\.04/g, '23.10'), /unsupported Ubuntu release: found Ubuntu 23\.10\.4 LTS/],
      ['', /found an unknown system/],
    ];
    for (const [text, re] of cases) {
      assert.throws(() => checkSupportedOs(parseOsRelease(text)), (e: unknown) => {
        assert.ok(e instanceof PreflightError);
        assert.match(e.message, re);
        assert.match(e.message, /supported: Ubuntu 20\.04, 22\.04 and 24\.04, Debian 11, 12 and 13/);
        return true;
      });
    }
  });
});

describe('uname -m', () => {
  test('maps x86_64 and aarch64', () => {
    assert.equal(parseUnameMachine('x86_64\n'), 'amd64');
    assert.equal(parseUnameMachine('aarch64\n'), 'arm64');
  });
  test('refuses others', () => {
    for (const m of ['armv7l', 'i686', 'riscv64', 's390x', '']) {
      assert.throws(() => parseUnameMachine(m), /unsupported CPU architecture: found "[^"]+" \(uname -m\); supported: x86_64 \(amd64\) and aarch64 \(arm64\)/);
    }
  });
  test('this machine is supported', async () => {
    const { stdout } = await run('uname', ['-m']);
    assert.ok(['amd64', 'arm64'].includes(parseUnameMachine(stdout)));
  });
});

describe('df -Pk', () => {
  const DF = `Filesystem     1024-blocks    Used Available Capacity Mounted on
/dev/sda1         41152812 9123456  30000000      24% /
`;
  test('parses the first file system', () => {
    assert.deepEqual(parseDfPk(DF), {
      filesystem: '/dev/sda1',
      totalBytes: 41152812 * 1024,
      usedBytes: 9123456 * 1024,
      availableBytes: 30000000 * 1024,
      mountedOn: '/',
    });
    assert.equal(parseDfPk('Filesystem 1024-blocks Used Available Capacity Mounted on\noverlay 100 50 50 50% /mnt/my disk\n').mountedOn, '/mnt/my disk');
  });
  test('rejects garbage', () => {
    assert.throws(() => parseDfPk('df: /x: No such file or directory\n'), PreflightError);
  });
  test('thresholds', () => {
    const disk = parseDfPk(DF);
    assert.equal(checkDiskSpace(disk, 'data').level, 'ok');
    assert.equal(checkDiskSpace({ ...disk, availableBytes: 5 * 1024 ** 3 }, 'data').level, 'warning');
    const low = checkDiskSpace({ ...disk, availableBytes: 100 * 1024 ** 2 }, 'the data directory /srv');
    assert.equal(low.level, 'error');
    assert.match(low.message!, /only 100\.0 MiB free on the data directory \/srv \(\/\); at least 2\.00 GiB is needed/);
  });
  test('the argv walks up to an existing directory and runs df (run here)', async () => {
    const argv = diskFreeArgv('/nonexistent/registry-setup/data; rm -rf /');
    assert.equal(argv[argv.length - 1], '/nonexistent/registry-setup/data; rm -rf /', 'the path is a positional parameter');
    const { stdout } = await run(argv[0]!, argv.slice(1));
    const disk = parseDfPk(stdout);
    assert.equal(disk.mountedOn, parseDfPk((await run('df', ['-Pk', '/'])).stdout).mountedOn);
  });
});

describe('ports', () => {
  const SS = [
    'LISTEN 0      4096         0.0.0.0:443        0.0.0.0:*    users:(("docker-proxy",pid=2211,fd=4))',
    'LISTEN 0      4096            [::]:443           [::]:*    users:(("docker-proxy",pid=2218,fd=4))',
    'LISTEN 0      511          0.0.0.0:80         0.0.0.0:*    users:(("nginx",pid=901,fd=6),("nginx",pid=900,fd=6))',
    'LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*',
    'LISTEN 0      128             [::]:22            [::]:*',
    'LISTEN 0      128                *:8080             *:*',
  ].join('\n');
  test('parses ss -ltnpH and ss -ltnH', () => {
    const sockets = parseSsListening(SS);
    assert.deepEqual(sockets.map((s) => `${s.address}|${s.port}|${s.process ?? ''}|${s.pid ?? ''}`), [
      '0.0.0.0|443|docker-proxy|2211',
      '::|443|docker-proxy|2218',
      '0.0.0.0|80|nginx|901',
      '127.0.0.53%lo|53||',
      '::|22||',
      '*|8080||',
    ]);
    const header = 'State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\nLISTEN 0 128 0.0.0.0:22 0.0.0.0:*\n';
    assert.deepEqual(parseSsListening(header), [{ address: '0.0.0.0', port: 22 }]);
  });
  test('parses docker ps ports, including ranges and unpublished ports', () => {
    const out = 'registry-setup_nginx_1\t0.0.0.0:443->8443/tcp, :::443->8443/tcp, 0.0.0.0:80->8080/tcp, :::80->8080/tcp\nregistry-setup_registry_1\t5000/tcp\nother\t127.0.0.1:9000-9001->9000-9001/tcp\n';
    const ports = parseDockerPsPorts(out);
    assert.deepEqual(
      ports.map((p) => `${p.container} ${p.hostAddress}:${p.hostPort}->${p.containerPort}`),
      [
        'registry-setup_nginx_1 0.0.0.0:443->8443',
        'registry-setup_nginx_1 :::443->8443',
        'registry-setup_nginx_1 0.0.0.0:80->8080',
        'registry-setup_nginx_1 :::80->8080',
        'other 127.0.0.1:9000->9000',
        'other 127.0.0.1:9001->9001',
      ],
    );
    assert.deepEqual(ourContainersArgv(), ['docker', 'ps', '--filter', 'label=com.docker.compose.project=registry-setup', '--format', '{{.Names}}\t{{.Ports}}']);
  });
  test('free, ours and taken', () => {
    const sockets = parseSsListening(SS);
    const ours = parseDockerPsPorts('registry-setup_nginx_1\t0.0.0.0:443->8443/tcp, :::443->8443/tcp\n');
    assert.deepEqual(checkPort(443, sockets, ours), { port: 443, state: 'ours', holder: 'registry-setup_nginx_1' });
    assert.deepEqual(checkPort(8443, sockets, ours), { port: 8443, state: 'free' });
    const taken = checkPort(80, sockets, ours, 'the http port 80');
    assert.equal(taken.state, 'taken');
    assert.match(taken.message!, /the http port 80 is in use by nginx \(pid 901\): a web server on the host uses it/);
    const foreignDocker = checkPort(443, sockets, []);
    assert.match(foreignDocker.message!, /docker-proxy \(pid 2211\): another Docker container publishes it/);
    assert.match(checkPort(8080, sockets, []).message!, /something listening on \*:8080/);
  });
  test('ss on this machine parses', async () => {
    const r = await run('ss', ['-ltnH'], { allowFailure: true });
    if (r.code !== 0) return; // no iproute2: nothing to compare with
    for (const s of parseSsListening(r.stdout)) assert.ok(s.port >= 0 && s.port <= 65535);
  });
});

describe('assessPreflight', () => {
  const settings = { dir: '/opt/registry-setup', dataDir: '/srv/registry', httpPort: 80, httpsPort: 443 };
  const DF = 'Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 104857600 1048576 103809024 2% /\n';
  const good: Partial<Record<ProbeId, ProbeResult>> = {
    'os-release': { code: 0, stdout: UBUNTU_2204 },
    arch: { code: 0, stdout: 'x86_64\n' },
    'disk-dir': { code: 0, stdout: DF },
    'disk-data': { code: 0, stdout: DF },
    ports: { code: 0, stdout: 'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))\n' },
    'our-containers': { code: 127, stdout: '', stderr: 'docker: not found' },
    'docker-cli': { code: 127, stdout: '' },
    'compose-v2': { code: 127, stdout: '' },
    'compose-v1': { code: 127, stdout: '' },
    'docker-daemon': { code: 127, stdout: '' },
  };

  test('lists every probe with its argv', () => {
    const probes = preflightCommands(settings);
    assert.deepEqual(probes.map((p) => p.id), ['os-release', 'arch', 'disk-dir', 'disk-data', 'ports', 'our-containers', 'docker-cli', 'compose-v2', 'compose-v1', 'docker-daemon']);
    assert.deepEqual(probes[0]!.argv, ['cat', '/etc/os-release']);
    assert.deepEqual(probes[1]!.argv, ['uname', '-m']);
    assert.deepEqual(probes[4]!.argv, ['ss', '-ltnpH']);
    assert.equal(probes[3]!.argv.at(-1), '/srv/registry');
  });

  test('a fresh supported host passes, docker to be installed', () => {
    const r = assessPreflight(settings, good);
    assert.deepEqual(r.errors, []);
    assert.equal(r.os?.codename, 'jammy');
    assert.equal(r.arch, 'amd64');
    assert.deepEqual(r.ports.map((p) => p.state), ['free', 'free']);
    assert.deepEqual(r.docker, { docker: false, daemon: false, compose: null });
  });

  test('collects every problem', () => {
    const r = assessPreflight(settings, {
      ...good,
      'os-release': { code: 0, stdout: CENTOS },
      arch: { code: 0, stdout: 'armv7l\n' },
      'disk-data': { code: 0, stdout: 'Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb 2048 1024 1024 50% /srv\n' },
      ports: { code: 0, stdout: 'LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("apache2",pid=5,fd=3))\n' },
      'disk-dir': undefined,
    });
    assert.equal(r.errors.length, 5, r.errors.join('\n'));
    assert.match(r.errors.join('\n'), /CentOS/);
    assert.match(r.errors.join('\n'), /armv7l/);
    assert.match(r.errors.join('\n'), /free space for \/opt\/registry-setup: not checked/);
    assert.match(r.errors.join('\n'), /only 1\.00 MiB free on the data directory \/srv\/registry/);
    assert.match(r.errors.join('\n'), /the http port 80 is in use by apache2/);
  });

  test('a re-deploy: the ports held by our own containers are fine', () => {
    const r = assessPreflight(settings, {
      ...good,
      ports: { code: 0, stdout: 'LISTEN 0 4096 0.0.0.0:80 0.0.0.0:* users:(("docker-proxy",pid=7,fd=4))\nLISTEN 0 4096 0.0.0.0:443 0.0.0.0:* users:(("docker-proxy",pid=8,fd=4))\n' },
      'our-containers': { code: 0, stdout: 'registry-setup-nginx-1\t0.0.0.0:80->8080/tcp, 0.0.0.0:443->8443/tcp\nregistry-setup-registry-1\t5000/tcp\n' },
      'docker-cli': { code: 0, stdout: 'Docker version 27.3.1, build ce12230\n' },
      'compose-v2': { code: 0, stdout: '2.29.7\n' },
      'docker-daemon': { code: 0, stdout: '27.3.1\n' },
    });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.ports.map((p) => p.state), ['ours', 'ours']);
    assert.equal(r.docker.compose, 'v2');
  });
});
