import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { noRenewalPlan, renewalFiles, renewalTimerPlan, renewalWithoutSystemd, renewScriptPath } from '../../src/provision/index.js';
import { completeSettings } from '../../src/settings/resolve.js';

const settings = completeSettings({ target: 'root@h', domain: 'registry.example.com', user: 'admin', email: 'ops@example.com', dir: '/opt/registry-setup' });
const files = renewalFiles(settings, { target: { kind: 'v2', dir: settings.dir }, directoryUrl: 'https://acme.example/directory' });

describe("deploy's renewal step decisions", () => {
  it('no systemd: only renew.sh is written, with the warning that says to use cron', () => {
    const plan = renewalWithoutSystemd(files, '/opt/registry-setup');
    assert.deepEqual(plan.files.map((f) => f.path), ['/opt/registry-setup/renew.sh']);
    assert.equal(plan.warning, 'no systemd on this host: automatic renewal is not installed; run /opt/registry-setup/renew.sh from cron twice a day');
    assert.deepEqual([plan.status, plan.detail, plan.commands], ['skipped', 'no systemd', []]);
  });

  it('units unchanged and the timer enabled: nothing runs', () => {
    assert.deepEqual(renewalTimerPlan({ filesChanged: false, timerEnabled: true }), { status: 'unchanged', detail: 'timer enabled', commands: [] });
  });

  it('timer not enabled, or a unit changed: daemon-reload and enable --now of that project\'s timer', () => {
    const enable = [['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', 'registry-setup-renew-other.timer']];
    assert.deepEqual(renewalTimerPlan({ filesChanged: false, timerEnabled: false, project: 'other' }), { status: 'done', detail: 'timer enabled', commands: enable });
    assert.deepEqual(renewalTimerPlan({ filesChanged: true, timerEnabled: true, project: 'other' }).commands, enable);
  });

  it('not Let\'s Encrypt: an installed renewal is removed, none installed is left alone', () => {
    assert.equal(renewScriptPath('/opt/registry-setup/'), '/opt/registry-setup/renew.sh');
    assert.deepEqual(noRenewalPlan({ installed: false, dir: '/opt/registry-setup' }), { status: 'unchanged', detail: 'none installed', commands: [] });
    const removal = noRenewalPlan({ installed: true, dir: '/opt/registry-setup' });
    assert.equal(removal.status, 'done');
    assert.equal(removal.detail, 'renewal timer and renew.sh removed');
    assert.deepEqual(removal.commands[0], ['systemctl', 'disable', '--now', 'registry-setup-renew.timer']);
    assert.ok(removal.commands[1]!.includes('/opt/registry-setup/renew.sh'));
  });
});
