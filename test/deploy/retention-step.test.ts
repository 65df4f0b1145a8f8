// Deploy's retention step against a recorded host: what it installs, removes and only plans.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { retentionStep, type RetentionHost } from '../../src/deploy/retention.js';
import type { Executor, FileChange } from '../../src/deploy/executor.js';
import type { FileSpec } from '../../src/provision/index.js';
import { completeSettings } from '../../src/settings/resolve.js';

const retention = { policies: [{ keepTags: [{ mostRecentlyPushedCount: 3 }] }] };

/** A host where `exists` paths exist, systemd is there or not, and the timer is enabled or not. */
function fakeHost(o: { retention?: boolean; exists?: string[]; systemd?: boolean; enabled?: boolean; dryRun?: boolean }) {
  const ran: string[][] = [];
  const written: string[] = [];
  const warnings: string[] = [];
  const exec = {
    dryRun: o.dryRun ?? false,
    run: async (argv: string[]) => {
      ran.push(argv);
      const ok = (argv[0] === 'test' && argv[1] === '-e' && (o.exists ?? []).includes(argv[2]!)) || (argv[1] === '-d' && argv[2] === '/run/systemd/system' && o.systemd === true) || (argv[1] === 'is-enabled' && o.enabled === true);
      return { code: argv[0] === 'test' || argv[1] === 'is-enabled' ? (ok ? 0 : 1) : 0, stdout: '', stderr: '' };
    },
    applyFiles: async (files: FileSpec[]): Promise<FileChange[]> => {
      written.push(...files.map((f) => f.path));
      return files.map((f) => ({ path: f.path, action: 'create' as const }));
    },
  } as unknown as Executor;
  const settings = completeSettings({ target: 'root@h', domain: 'r.example.com', user: 'a', tls: 'self-signed', dir: '/opt/rs', ...(o.retention ? { retention } : {}) });
  const host: RetentionHost = {
    exec,
    settings,
    target: { kind: 'v2', dir: '/opt/rs' },
    output: { warn: (m: string) => warnings.push(m) } as unknown as RetentionHost['output'],
    path: (rel) => `/opt/rs/${rel}`,
  };
  return { host, ran, written, warnings };
}

describe('deploy: the retention step', () => {
  it('with retention: and systemd, writes the policy, script and units and enables the timer', async () => {
    const h = fakeHost({ retention: true, systemd: true });
    const r = await retentionStep(h.host, { dryRun: false, runsHere: true });
    assert.equal(r.status, 'done');
    assert.deepEqual(h.written.sort(), ['/etc/systemd/system/registry-setup-retention.service', '/etc/systemd/system/registry-setup-retention.timer', '/opt/rs/retention.sh', '/opt/rs/retention.yaml']);
    assert.deepEqual(h.ran.at(-1), ['systemctl', 'enable', '--now', 'registry-setup-retention.timer']);
  });

  it('--dry-run shows the timer it would install and runs no systemctl change', async () => {
    const h = fakeHost({ retention: true, systemd: true, dryRun: true });
    const r = await retentionStep(h.host, { dryRun: true, runsHere: true });
    assert.equal(r.status, 'planned');
    assert.match(r.detail!, /install registry-setup-retention\.timer/);
    assert.ok(!h.ran.some((a) => a[0] === 'systemctl' && a[1] !== 'is-enabled'), JSON.stringify(h.ran));
  });

  it('without systemd, writes the policy and script only and says to run it from cron', async () => {
    const h = fakeHost({ retention: true, systemd: false });
    const r = await retentionStep(h.host, { dryRun: false, runsHere: true });
    assert.equal(r.status, 'skipped');
    assert.deepEqual(h.written.sort(), ['/opt/rs/retention.sh', '/opt/rs/retention.yaml']);
    assert.match(h.warnings.join('\n'), /from cron once a day/);
  });

  it('retention: removed (or a host after the first) takes out what an earlier deploy installed', async () => {
    const h = fakeHost({ retention: false, exists: ['/opt/rs/retention.sh'] });
    const r = await retentionStep(h.host, { dryRun: false, runsHere: true });
    assert.equal(r.status, 'done');
    assert.deepEqual(h.ran.find((a) => a[0] === 'rm'), ['rm', '-f', '--', '/etc/systemd/system/registry-setup-retention.timer', '/etc/systemd/system/registry-setup-retention.service', '/opt/rs/retention.sh', '/opt/rs/retention.yaml']);
    const second = fakeHost({ retention: true, exists: ['/opt/rs/retention.sh'], dryRun: true });
    assert.equal((await retentionStep(second.host, { dryRun: true, runsHere: false })).status, 'planned');
    assert.ok(!second.ran.some((a) => a[0] === 'rm'), 'a dry run removes nothing');
    const none = fakeHost({ retention: false });
    assert.equal((await retentionStep(none.host, { dryRun: false, runsHere: true })).status, 'unchanged');
  });
});
