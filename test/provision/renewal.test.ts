import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { removeRenewalArgv, renewArgv, renewalFiles, renewalUnitName } from '../../src/provision/index.js';
import { completeSettings } from '../../src/settings/resolve.js';
import { verifyRenderedUnits } from '../helpers/systemd-verify.js';

const settings = completeSettings({ target: 'root@h', domain: 'registry.example.com', user: 'admin', email: 'ops@example.com', dir: '/opt/registry-setup' });
const target = { kind: 'v2' as const, dir: '/opt/registry-setup' };
const opts = { target, directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory' };

describe('renewal units', () => {
  it('run the renew command in compose.yaml\'s renew service, then reload nginx only after a renewal', () => {
    const argv = renewArgv(settings, opts);
    assert.deepEqual(argv.slice(0, 13), ['docker', 'compose', '-p', 'registry-setup', '-f', '/opt/registry-setup/compose.yaml', 'run', '--rm', '-T', '--no-deps', 'renew', 'renew', '--state-dir']);
    // the service holds user, capabilities and mounts: compose v1's run cannot add capabilities
    assert.ok(!argv.includes('--user') && !argv.includes('-v'), argv.join(' '));
    assert.equal(argv[argv.indexOf('--domain') + 1], 'registry.example.com');
    const script = String(renewalFiles(settings, opts).find((f) => f.path.endsWith('renew.sh'))!.content);
    assert.match(script, /if \[ "\$out" = renewed \]; then\n\s+sh -c .* sh docker compose .* exec -T nginx nginx -c \/etc\/registry-setup\/nginx\/nginx\.conf -s reload\n\s+rm -f \/opt\/registry-setup\/state\/reload-pending\n/);
    assert.match(script, /^set -eu$/m);
    assert.equal(renewalUnitName(), 'registry-setup-renew');
    assert.equal(renewalUnitName('other'), 'registry-setup-renew-other');
  });

  it('taking the renewal out stops and removes the units of that project and renew.sh', () => {
    assert.deepEqual(removeRenewalArgv('/srv/reg/', 'other'), [
      ['systemctl', 'disable', '--now', 'registry-setup-renew-other.timer'],
      ['rm', '-f', '--', '/etc/systemd/system/registry-setup-renew-other.timer', '/etc/systemd/system/registry-setup-renew-other.service', '/srv/reg/renew.sh'],
      ['systemctl', 'daemon-reload'],
    ]);
  });

  it('the timer fires twice a day with a randomized delay and catches up after downtime', () => {
    const timer = String(renewalFiles(settings, opts).find((f) => f.path.endsWith('.timer'))!.content);
    assert.match(timer, /^OnCalendar=\*-\*-\* 00,12:00:00$/m);
    assert.match(timer, /^RandomizedDelaySec=1h$/m);
    assert.match(timer, /^Persistent=true$/m);
    const service = String(renewalFiles(settings, opts).find((f) => f.path.endsWith('.service'))!.content);
    assert.match(service, /^TimeoutStartSec=30min$/m, 'a hung run cannot block every later one');
    assert.match(timer, /^WantedBy=timers.target$/m);
  });

  it('with several hosts, each host\'s run takes its turn (--slot I/N) and its timer its own hours', () => {
    const alone = renewArgv(settings, opts);
    assert.ok(!alone.includes('--slot'), 'one host: no turns');
    assert.ok(!renewArgv(settings, { ...opts, slot: { index: 0, count: 1 } }).includes('--slot'));
    const second = renewArgv(settings, { ...opts, slot: { index: 1, count: 3 } });
    assert.equal(second[second.indexOf('--slot') + 1], '2/3');
    const timer = String(renewalFiles(settings, { ...opts, slot: { index: 1, count: 3 } }).find((f) => f.path.endsWith('.timer'))!.content);
    assert.match(timer, /^OnCalendar=\*-\*-\* 03,15:00:00$/m);
    const script = String(renewalFiles(settings, { ...opts, slot: { index: 1, count: 3 } }).find((f) => f.path.endsWith('renew.sh'))!.content);
    assert.match(script, / --slot 2\/3/);
  });

  it('the rendered units pass systemd-analyze verify', (t) =>
    verifyRenderedUnits(t, 'rs-units-', (installDir) => {
      const local = completeSettings({ ...settings, dir: installDir });
      return renewalFiles(local, { ...opts, target: { kind: 'v2', dir: local.dir } });
    }));
});
