import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { enableRetentionTimerArgv, removeRetentionArgv, retentionFiles, retentionTimerArgv, retentionUnitName } from '../../src/provision/index.js';
import { completeSettings, loadConfigFile } from '../../src/settings/resolve.js';
import { withConfigSections } from '../../src/settings/retention.js';
import { composeDocument } from '../../src/templates/render.js';
import { parseRetention } from '../../src/registry/retention/policy.js';
import { GENERATED, renewUnits, unitPurpose } from '../../src/ops/destroy.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';
import { verifyRenderedUnits } from '../helpers/systemd-verify.js';

const retention = { policies: [{ repositories: ['ci/**'], keepTags: [{ patterns: ['^v'] }, { mostRecentlyPushedCount: 3 }] }] };
const settings = completeSettings({ target: 'root@h', domain: 'registry.example.com', user: 'admin', tls: 'self-signed', dir: '/opt/registry-setup', retention });
const target = { kind: 'v2' as const, dir: '/opt/registry-setup' };
const byName = (suffix: string) => retentionFiles(settings, target).find((f) => f.path.endsWith(suffix))!;

describe('retention on the host', () => {
  it('the timer runs the image\'s retention command in compose.yaml\'s retention service, recording the run in state/', () => {
    const argv = retentionTimerArgv(settings, target);
    assert.deepEqual(argv, [
      'docker', 'compose', '-p', 'registry-setup', '-f', '/opt/registry-setup/compose.yaml',
      'run', '--rm', '-T', '--no-deps', 'retention', 'retention',
      '--policy', '/etc/registry-setup/retention.yaml', '--data', '/var/lib/registry',
      '--state-file', '/var/lib/registry-setup/state/retention.json',
    ]);
    // a bucket is found through the service's environment: no --data
    assert.ok(!retentionTimerArgv({ storage: 's3://b/p?endpoint=http://127.0.0.1:1' }, target).includes('--data'));
    const script = String(byName('/retention.sh').content);
    assert.match(script, /^set -eu$/m);
    assert.ok(script.includes('docker compose -p registry-setup -f /opt/registry-setup/compose.yaml run --rm -T --no-deps retention retention --policy'), script);
    assert.equal(retentionUnitName(), 'registry-setup-retention');
    assert.equal(retentionUnitName('other'), 'registry-setup-retention-other');
  });

  it('a daily timer with a randomized delay that catches up after downtime; the service runs retention.sh', () => {
    const timer = String(byName('registry-setup-retention.timer').content);
    assert.match(timer, /^OnCalendar=\*-\*-\* 03:00:00$/m);
    assert.match(timer, /^RandomizedDelaySec=1h$/m);
    assert.match(timer, /^Persistent=true$/m);
    assert.match(timer, /^WantedBy=timers.target$/m);
    const service = String(byName('registry-setup-retention.service').content);
    assert.match(service, /^ExecStart=\/bin\/sh \/opt\/registry-setup\/retention\.sh$/m);
    assert.match(service, /^Type=oneshot$/m);
    assert.match(service, /^TimeoutStartSec=/m, 'a hung run cannot block every later one');
    assert.deepEqual(enableRetentionTimerArgv('other')[1], ['systemctl', 'enable', '--now', 'registry-setup-retention-other.timer']);
  });

  it('the policy file holds the section alone, readable by the registry\'s uid, and the payload parses it back', () => {
    const policy = byName('/retention.yaml');
    assert.equal(policy.path, '/opt/registry-setup/retention.yaml');
    assert.equal(policy.mode, 0o640);
    assert.equal(policy.group, 1000);
    const doc = parse(String(policy.content)) as unknown;
    assert.deepEqual(doc, retention);
    assert.equal(parseRetention(doc, 'x').policies[0]!.keepTags!.length, 2);
  });

  it('taking retention out stops and removes the units, the script and the policy', () => {
    assert.deepEqual(removeRetentionArgv('/srv/reg/', 'other'), [
      ['systemctl', 'disable', '--now', 'registry-setup-retention-other.timer'],
      ['rm', '-f', '--', '/etc/systemd/system/registry-setup-retention-other.timer', '/etc/systemd/system/registry-setup-retention-other.service', '/srv/reg/retention.sh', '/srv/reg/retention.yaml'],
      ['systemctl', 'daemon-reload'],
    ]);
  });

  it('destroy takes the retention timer, script and policy out too', () => {
    const units = renewUnits('other');
    assert.ok(units.includes('registry-setup-retention-other.timer') && units.includes('registry-setup-retention-other.service'), units.join(' '));
    assert.equal(unitPurpose('registry-setup-retention-other.timer'), 'retention rules');
    assert.equal(unitPurpose('registry-setup-renew.timer'), 'certificate renewal');
    const generated = GENERATED.map((g) => g.rel as string);
    assert.ok(generated.includes('retention.sh') && generated.includes('retention.yaml'), generated.join(' '));
  });

  it('compose.yaml has the retention service only with retention:, as the registry\'s uid, never started by up', () => {
    const base = { dataDir: '/srv/data', httpPort: 80, httpsPort: 443, nginxImage: 'nginx:1' };
    const without = composeDocument(base, { version: '1.0.0', auth: true }) as { services: Record<string, unknown> };
    assert.equal(without.services.retention, undefined);
    const doc = composeDocument({ ...base, retention }, { version: '1.0.0', auth: true }) as { services: Record<string, Record<string, unknown>> };
    const svc = doc.services.retention!;
    assert.deepEqual(svc.profiles, ['retention']);
    assert.equal(svc.user, '1000:1000');
    assert.equal(svc.read_only, true);
    assert.deepEqual(svc.cap_drop, ['ALL']);
    assert.equal(svc.image, doc.services.registry!.image);
    assert.deepEqual(svc.volumes, ['/srv/data:/var/lib/registry', './retention.yaml:/etc/registry-setup/retention.yaml:ro', './state:/var/lib/registry-setup/state']);
    const inBucket = composeDocument({ ...base, retention, storage: 's3://bucket/p?endpoint=http://10.0.0.1:7480' }, { version: '1.0.0', auth: true }) as { services: Record<string, Record<string, unknown>> };
    assert.deepEqual(inBucket.services.retention!.environment, { REGISTRY_STORAGE_URL: 's3://bucket/p?endpoint=http://10.0.0.1:7480', REGISTRY_STORAGE_S3_CREDENTIALSFILE: '/etc/registry-setup/s3-credentials' });
    assert.ok(!(inBucket.services.retention!.volumes as string[]).some((v) => v.includes('/var/lib/registry:')), 'no data directory with a bucket');
  });

  it('registry-setup.yaml\'s retention: is checked by the payload\'s parser; errors name the key', async () => {
    const dir = await makeTempDir('rs-retention-settings-');
    try {
      const file = path.join(dir, 'registry-setup.yaml');
      await writeFile(file, 'domain: r.example.com\nretention:\n  policies:\n    - repositories: ["**"]\n      keepTags: [{mostRecentlyPushedCount: 5}]\n');
      assert.deepEqual((await loadConfigFile(file)).retention, { policies: [{ repositories: ['**'], keepTags: [{ mostRecentlyPushedCount: 5 }] }] });
      await writeFile(file, 'retention:\n  policies:\n    - keepTags: [{mostRecentlyPushedCount: -1}]\n');
      await assert.rejects(loadConfigFile(file), /retention: policy 1: keepTags 1: mostRecentlyPushedCount must be a whole number/);
      await writeFile(file, 'retention:\n  policies:\n    - keeptags: []\n');
      await assert.rejects(loadConfigFile(file), /retention: policy 1: unknown key keeptags/);
      await writeFile(file, 'retention: daily\n');
      await assert.rejects(loadConfigFile(file), /retention must be a mapping/);
    } finally {
      await removeDir(dir);
    }
  });

  it('with --config, retention: comes from that file alone: removing it there removes it (the host record does not bring it back)', () => {
    const merged = { domain: 'r.example.com', retention };
    assert.equal(withConfigSections(merged, {}).retention, undefined);
    assert.equal(withConfigSections(merged, {}).domain, 'r.example.com');
    const other = { policies: [] };
    assert.deepEqual(withConfigSections(merged, { retention: other }).retention, other);
  });

  it('the rendered units pass systemd-analyze verify', (t) =>
    verifyRenderedUnits(t, 'rs-retention-units-', (installDir) => {
      const local = completeSettings({ ...settings, dir: installDir });
      return retentionFiles(local, { kind: 'v2', dir: local.dir });
    }));
});
