// Pure parts of the day-2 commands: version order, argv builders, the log line prefixer and the
// --follow watchdog (run here with sh, as sshd would run it).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { gcPayloadArgv } from '../../src/ops/gc.js';
import { checkLogsOptions, composeLogsArgv, dockerLogsArgv, linePrefixer, withFollowWatchdog } from '../../src/ops/logs.js';
import { formatAge } from '../../src/ops/status.js';
import { checkVersionOrder } from '../../src/ops/upgrade.js';
import { cliVersion, compareSemver } from '../../src/ops/version.js';
import { VERSION } from '../../src/version.js';

describe('versions', () => {
  it('compares semantic versions, pre-releases before releases', () => {
    const ordered = ['0.1.0', '0.1.1-alpha', '0.1.1-alpha.2', '0.1.1-alpha.10', '0.1.1-beta', '0.1.1', '0.2.0', '1.0.0', '10.0.0'];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        const c = compareSemver(ordered[i]!, ordered[j]!)!;
        assert.equal(Math.sign(c), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
      }
    }
    assert.equal(compareSemver('1.2.3+build.5', 'v1.2.3'), 0);
    assert.equal(compareSemver('unknown', '1.0.0'), null);
  });

  it('an older CLI refuses a newer deployment unless forced', () => {
    assert.deepEqual(checkVersionOrder('0.1.0', '0.2.0', false, 'h'), {});
    assert.deepEqual(checkVersionOrder('0.2.0', '0.2.0', false, 'h'), {});
    assert.throws(() => checkVersionOrder('0.3.0', '0.2.0', false, 'h'), /^Error: this registry-setup \(0\.2\.0\) is older than the deployment on h \(0\.3\.0\); install registry-setup 0\.3\.0 or later, or pass --force to downgrade$/);
    assert.match(checkVersionOrder('0.3.0', '0.2.0', true, 'h').warning!, /downgrading because of --force/);
    assert.match(checkVersionOrder('unknown', '0.2.0', false, 'h').warning!, /cannot compare/);
  });

  it('REGISTRY_SETUP_VERSION_OVERRIDE replaces the version (tests only)', () => {
    const saved = process.env.REGISTRY_SETUP_VERSION_OVERRIDE;
    try {
      delete process.env.REGISTRY_SETUP_VERSION_OVERRIDE;
      assert.equal(cliVersion(), VERSION);
      process.env.REGISTRY_SETUP_VERSION_OVERRIDE = '9.9.9';
      assert.equal(cliVersion(), '9.9.9');
      process.env.REGISTRY_SETUP_VERSION_OVERRIDE = 'bad version';
      assert.throws(() => cliVersion(), /not a version string/);
    } finally {
      if (saved === undefined) delete process.env.REGISTRY_SETUP_VERSION_OVERRIDE;
      else process.env.REGISTRY_SETUP_VERSION_OVERRIDE = saved;
    }
  });
});

describe('logs', () => {
  const v2 = { kind: 'v2' as const, dir: '/opt/registry-setup' };
  it('builds compose and docker argv', () => {
    assert.deepEqual(composeLogsArgv(v2, { follow: true, tail: '10', since: '1h', service: 'nginx' }), [
      'docker', 'compose', '-p', 'registry-setup', '-f', '/opt/registry-setup/compose.yaml', 'logs', '--no-color', '--follow', '--tail', '10', '--since', '1h', 'nginx',
    ]);
    assert.deepEqual(composeLogsArgv({ ...v2, kind: 'v1' }, {}).slice(0, 3), ['env', 'PYTHONUNBUFFERED=1', 'docker-compose']);
    assert.deepEqual(dockerLogsArgv('abc', { since: '2024-05-01T10:00:00Z', tail: 'all' }), ['docker', 'logs', '--tail', 'all', '--since', '2024-05-01T10:00:00Z', 'abc']);
  });

  it('checks --since, --tail and --service', () => {
    for (const since of ['1h', '30m', '1h30m', '90s', '2024-05-01', '2024-05-01T10:00:00Z', '2024-05-01T10:00:00+02:00', '1714557600']) checkLogsOptions({ since });
    assert.throws(() => checkLogsOptions({ since: 'yesterday' }), /--since "yesterday"/);
    assert.throws(() => checkLogsOptions({ since: '1h; rm -rf /' }), /--since/);
    assert.throws(() => checkLogsOptions({ tail: '-5' }), /--tail/);
    assert.throws(() => checkLogsOptions({ service: 'db' as never }), /--service must be one of registry, nginx/);
  });

  it('prefixes complete lines, keeping partial ones for later', () => {
    const out: string[] = [];
    const p = linePrefixer('nginx | ', (t, s) => out.push(`${s}:${t}`));
    p.write('a\nb', 'stdout');
    p.write('c\n\nd', 'stdout');
    p.write('e\n', 'stderr');
    p.flush();
    assert.deepEqual(out, ['stdout:nginx | a\n', 'stdout:nginx | bc\nnginx | \n', 'stderr:nginx | e\n', 'stdout:nginx | d\n']);
  });

  it('the --follow watchdog ends the command once its output channel is gone', async () => {
    // sshd starts the command in a session of its own: detached gives the same process group.
    const argv = withFollowWatchdog(['sh', '-c', 'echo started; exec sleep 60']);
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    let nul = 0;
    child.stderr.on('data', (d: Buffer) => (nul += d.length));
    for (const deadline = Date.now() + 5_000; !out.includes('started') || nul === 0; await delay(50)) assert.ok(Date.now() < deadline, `heartbeat: ${nul}`);
    const exited = new Promise<NodeJS.Signals | number | null>((r) => child.on('exit', (code, signal) => r(signal ?? code)));
    // the channel closes: both pipes go away
    child.stdout.destroy();
    child.stderr.destroy();
    const how = await Promise.race([exited, delay(5_000).then(() => 'still running')]);
    if (how === 'still running') process.kill(-child.pid!, 'SIGKILL');
    assert.equal(how, 'SIGTERM');
    // nothing of the group is left running (zombies waiting for a reaping init do not count)
    for (const deadline = Date.now() + 3_000; ; await delay(100)) {
      const ps = spawnSync('ps', ['-o', 'stat=,args=', '-g', String(child.pid)], { encoding: 'utf8' });
      const alive = ps.stdout.split('\n').filter((l) => l.trim() && !l.trim().startsWith('Z'));
      if (alive.length === 0) break;
      assert.ok(Date.now() < deadline, `still running: ${alive.join('; ')}`);
    }
  });
});

describe('gc and status helpers', () => {
  it('runs the payload gc on the container paths', () => {
    assert.deepEqual(gcPayloadArgv({ dryRun: true, deleteUntagged: true, grace: '0s' }, '/var/lib/registry-setup/state/gc.json'), [
      'node', '/app/registry.mjs', 'gc', '--data', '/var/lib/registry', '--json', '--dry-run', '--delete-untagged', '--grace', '0s', '--state-file', '/var/lib/registry-setup/state/gc.json',
    ]);
    assert.deepEqual(gcPayloadArgv({}), ['node', '/app/registry.mjs', 'gc', '--data', '/var/lib/registry', '--json']);
    // in a bucket, the container's REGISTRY_STORAGE_URL and credentials file say where
    assert.deepEqual(gcPayloadArgv({ grace: '0s' }, undefined, true), ['node', '/app/registry.mjs', 'gc', '--json', '--grace', '0s']);
  });

  it('formats ages', () => {
    const now = Date.parse('2025-01-10T00:00:00Z');
    assert.equal(formatAge(now - 5_000, now), '5 s');
    assert.equal(formatAge(now - 600_000, now), '10 min');
    assert.equal(formatAge(now - 5 * 3600_000, now), '5 h');
    assert.equal(formatAge(now - 3 * 86_400_000, now), '3 days');
  });
});
