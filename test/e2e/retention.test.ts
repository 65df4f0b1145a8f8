// Retention on a real deployment over sshd: deploy --config with a retention: section writes the
// policy, retention.sh and the units; the timer's command (the unit's ExecStart, run as systemd
// would: this bed has no systemd) removes exactly the tags the rules do not keep, the kept ones
// still pull, status shows the run; `retention <target> --dry-run` lists the right tags first.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa, execaSync as execaSyncRaw } from 'execa';
import { jsonResult, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { buildOciImage } from '../helpers/oci.js';
import { skopeo } from '../helpers/skopeo.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';
import { retentionFiles } from '../../src/provision/retention.js';
import { completeSettings } from '../../src/settings/resolve.js';

const PASSWORD = 'e2e-retention-password-1';
// oldest first: stable is kept by its pattern, build-3 as the most recently pushed
const TAGS = ['stable', 'build-1', 'build-2', 'build-3'];
const RETENTION = { policies: [{ repositories: ['ret/**'], keepTags: [{ patterns: ['^stable$'] }, { mostRecentlyPushedCount: 1 }] }] };

describe('retention on a deployment', { skip: sshdSkipReason() }, () => {
  let bed: DeployBed;
  let work: string;
  let certDir: string;
  let config: string;
  const host = () => `localhost:${bed.httpsPort}`;
  const hostFlags = () => [bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--compose-project', bed.project];
  const tagsDir = () => path.join(bed.installDir, 'data/docker/registry/v2/repositories/ret/app/_manifests/tags');

  before(async () => {
    bed = await startDeployBed('retention');
    work = await makeTempDir('rs-retention-work-');
    config = path.join(work, 'registry-setup.yaml');
    writeFileSync(config, `retention: ${JSON.stringify(RETENTION)}\n`);
    const r = await bed.cli([...bed.deployArgs(['--password-stdin']), '--config', config], { input: PASSWORD });
    assert.equal(r.exitCode, 0, `deploy failed:\n${String(r.stderr).slice(-3000)}`);
    assert.match(String(r.stderr), /no systemd on this host: retention is not scheduled; run .*retention\.sh from cron once a day/);
    certDir = path.join(work, 'certs');
    mkdirSync(certDir);
    writeFileSync(path.join(certDir, 'ca.crt'), readFileSync(path.join(bed.installDir, 'tls/fullchain.pem')));
    // four images, pushed over four simulated days in TAGS' order (set times, no sleeping)
    const now = Date.now();
    for (const [i, tag] of TAGS.entries()) {
      const layout = path.join(work, tag);
      await buildOciImage(layout, tag, { layerSizes: [2_000] });
      await skopeo(['copy', '--dest-cert-dir', certDir, '--dest-creds', `admin:${PASSWORD}`, `oci:${layout}:${tag}`, `docker://${host()}/ret/app:${tag}`], { redact: [PASSWORD] });
      const at = new Date(now - (TAGS.length - i) * 86_400_000);
      utimesSync(path.join(tagsDir(), tag, 'current/link'), at, at);
    }
  });
  after(async () => {
    await bed?.cleanup();
    if (work) await removeDir(work);
  });

  it('deploy wrote the policy (registry group, 0640), retention.sh and compose.yaml\'s retention service', () => {
    const policy = path.join(bed.installDir, 'retention.yaml');
    assert.ok(existsSync(policy));
    assert.equal(execaSync(['stat', '-c', '%a %g', policy]), '640 1000');
    assert.ok(existsSync(path.join(bed.installDir, 'retention.sh')));
    assert.match(readFileSync(path.join(bed.installDir, 'compose.yaml'), 'utf8'), /^ {2}retention:\n(?: {4}.*\n)*? {4}profiles:\n {6}- retention$/m);
  });

  it('retention <target> --dry-run lists the tags the rules do not keep, and removes nothing', async () => {
    const r = await bed.cli(['retention', ...hostFlags(), '--dry-run', '--json']);
    assert.equal(r.exitCode, 0, String(r.stderr).slice(-2000));
    const result = jsonResult(String(r.stdout));
    assert.equal(result.dryRun, true);
    assert.deepEqual((result.removedTags as { tag: string }[]).map((t) => t.tag).sort(), ['build-1', 'build-2']);
    for (const t of result.removedTags as { repository: string; digest: string; pushedAt: string; size: number }[]) {
      assert.equal(t.repository, 'ret/app');
      assert.match(t.digest, /^sha256:[0-9a-f]{64}$/);
      assert.ok(t.size > 2_000 && !Number.isNaN(Date.parse(t.pushedAt)), JSON.stringify(t));
    }
    assert.ok(Number(result.wouldFreeBytes) > 4_000, JSON.stringify(result));
    assert.ok(existsSync(path.join(tagsDir(), 'build-1')), 'a dry run removes nothing');
  });

  it('the timer\'s ExecStart, run as systemd would, removes exactly those tags; the kept ones pull; status shows the run', async () => {
    // the unit deploy would install on a host with systemd, for these settings
    const settings = completeSettings({ target: bed.sshd.target('root'), domain: 'localhost', user: 'admin', tls: 'self-signed', dir: bed.installDir, composeProject: bed.project, retention: RETENTION });
    const service = String(retentionFiles(settings, { kind: 'v1', dir: bed.installDir, project: bed.project }).find((f) => f.path.endsWith('.service'))!.content);
    const execStart = /^ExecStart=(.+)$/m.exec(service)![1]!.split(' ');
    assert.deepEqual(execStart, ['/bin/sh', path.join(bed.installDir, 'retention.sh')]);
    const run = await execa(execStart[0]!, execStart.slice(1), { reject: false, timeout: 120_000 });
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);

    assert.deepEqual(execaSync(['ls', tagsDir()]).split('\n').sort(), ['build-3', 'stable']);
    for (const tag of ['build-3', 'stable']) {
      const out = await makeTempDir('rs-retention-pull-');
      try {
        await skopeo(['copy', '--src-cert-dir', certDir, '--src-creds', `admin:${PASSWORD}`, `docker://${host()}/ret/app:${tag}`, `oci:${out}:${tag}`], { redact: [PASSWORD] });
      } finally {
        await removeDir(out);
      }
    }
    const record = JSON.parse(readFileSync(path.join(bed.installDir, 'state/retention.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(record.ok, true);
    assert.equal(record.deletedTags, 2);

    const status = await bed.cli(['status', ...hostFlags(), '--json']);
    const report = jsonResult(String(status.stdout));
    const check = (report.checks as { id: string; status: string; detail: string }[]).find((c) => c.id === 'retention')!;
    assert.equal(check.status, 'ok', JSON.stringify(check));
    assert.match(check.detail, /2 tag\(s\) and \d+ untagged manifest\(s\) removed, .* freed, no errors/);
  });
});

function execaSync(argv: string[]): string {
  return String(execaSyncRaw(argv[0]!, argv.slice(1)).stdout).trim();
}
