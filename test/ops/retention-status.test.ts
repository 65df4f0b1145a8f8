import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RETENTION_MISSED_MS, readRetentionFacts, retentionCheck } from '../../src/ops/retention-status.js';

const now = Date.parse('2026-12-06T12:00:00Z');
const hoursAgo = (h: number) => new Date(now - h * 3600_000).toISOString();
const okRun = (h: number) => ({ time: hoursAgo(h), ok: true, dryRun: false, deletedTags: 12, deletedManifests: 2, freedBytes: 3 * 1024 * 1024, durationMs: 900 });

describe('status: the last retention run', () => {
  it('a recent successful run is ok and says what it removed and freed', () => {
    const c = retentionCheck({ record: okRun(5), installedAt: now - 30 * 86_400_000, now });
    assert.equal(c.status, 'ok');
    assert.match(c.detail, /12 tag\(s\) and 2 untagged manifest\(s\) removed, 3\.00 MiB freed, no errors/);
    assert.ok(c.detail.startsWith(hoursAgo(5)), c.detail);
  });

  it('a failed run fails (status exits 1), with the error', () => {
    const c = retentionCheck({ record: { time: hoursAgo(2), ok: false, error: 'bucket unreachable', deletedTags: 0, freedBytes: 0 }, installedAt: now - 86_400_000, now });
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /failed: bucket unreachable/);
  });

  it('no successful run for more than 36 h while the timer is installed fails as missed', () => {
    assert.equal(RETENTION_MISSED_MS, 36 * 3600_000);
    assert.equal(retentionCheck({ record: okRun(35), installedAt: now - 30 * 86_400_000, now }).status, 'ok');
    const stale = retentionCheck({ record: okRun(37), installedAt: now - 30 * 86_400_000, now });
    assert.equal(stale.status, 'fail');
    assert.match(stale.detail, /missed runs/);
    // never ran at all: judged from when the timer was installed
    assert.equal(retentionCheck({ record: null, installedAt: now - 3600_000, now }).status, 'ok');
    assert.equal(retentionCheck({ record: null, installedAt: now - 40 * 3600_000, now }).status, 'fail');
  });

  it('without the timer an old record is history, not a failure; none at all says how to configure it', () => {
    assert.equal(retentionCheck({ record: okRun(24 * 30), now }).status, 'ok');
    assert.equal(retentionCheck({ record: { ...okRun(1), ok: false, error: 'x' }, now }).status, 'warn');
    assert.match(retentionCheck({ record: null, now }).detail, /retention: in registry-setup\.yaml/);
  });

  it('reads state/retention.json and the timer script\'s mtime; an unreadable record counts as failed', async () => {
    const files: Record<string, string> = { '/opt/rs/state/retention.json': '{not json' };
    const d = {
      host: { readFile: async (p: string) => (p in files ? Buffer.from(files[p]!) : null) },
      exec: { run: async (argv: string[]) => (argv.at(-1) === '/opt/rs/retention.sh' ? { code: 0, stdout: '1765000000\n' } : { code: 1, stdout: '' }) },
      path: (rel: string) => `/opt/rs/${rel}`,
    };
    const facts = await readRetentionFacts(d);
    assert.equal(facts.installedAt, 1765000000_000);
    assert.equal(facts.record!.ok, false);
    assert.equal(retentionCheck({ ...facts, now }).status, 'fail');
  });
});
