// backup/restore <target> against a real deployment on this machine over sshd: the backup is
// streamed over SSH into a local directory while the registry serves, a second run copies only the
// new image, and a restore into the deployment's emptied data directory pulls every tag by digest.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { jsonResult, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { buildOciImage, readLayoutImage, type BuiltImage } from '../helpers/oci.js';
import { skopeo } from '../helpers/skopeo.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';

const PASSWORD = 'e2e-backup-password-1';

describe('backup and restore over SSH', { skip: sshdSkipReason() }, () => {
  let bed: DeployBed;
  let work: string;
  let certDir: string;
  let backupDir: string;
  let context = '';
  const images = new Map<string, BuiltImage>();
  const host = () => `localhost:${bed.httpsPort}`;

  const rs = async (words: string[], extra: string[]) => {
    const args = [...words, bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--compose-project', bed.project, ...extra];
    const r = await bed.cli(args);
    context = `registry-setup ${args.join(' ')}\nexit ${r.exitCode}\nstdout:\n${String(r.stdout).slice(-3000)}\nstderr:\n${String(r.stderr).split('\n').slice(-30).join('\n')}`;
    return r;
  };
  const push = async (name: string, repoTag: string, layerSizes: number[]) => {
    const layout = path.join(work, name);
    images.set(repoTag, await buildOciImage(layout, 'v1', { layerSizes }));
    await skopeo(['copy', '--dest-cert-dir', certDir, '--dest-creds', `admin:${PASSWORD}`, `oci:${layout}:v1`, `docker://${host()}/${repoTag}`], { redact: [PASSWORD] });
  };
  const pullByDigest = async (repo: string, digest: string) => {
    const dir = await makeTempDir('rs-backup-pull-');
    try {
      await skopeo(['copy', '--src-cert-dir', certDir, '--src-creds', `admin:${PASSWORD}`, `docker://${host()}/${repo}@${digest}`, `oci:${dir}:pulled`], { redact: [PASSWORD] });
      return await readLayoutImage(dir, digest);
    } finally {
      await removeDir(dir);
    }
  };

  before(async () => {
    bed = await startDeployBed('backup');
    const r = await bed.cli(bed.deployArgs(['--password-stdin']), { input: PASSWORD });
    assert.equal(r.exitCode, 0, `deploy failed:\n${String(r.stderr).slice(-3000)}`);
    work = await makeTempDir('rs-backup-work-');
    certDir = path.join(work, 'certs');
    mkdirSync(certDir);
    writeFileSync(path.join(certDir, 'ca.crt'), readFileSync(path.join(bed.installDir, 'tls/fullchain.pem')));
    backupDir = path.join(work, 'backup');
    await push('app', 'team/app:v1', [1_000, 300_000]);
    await push('tool', 'team/tool:v1', [2_000]);
  });
  after(async () => {
    await bed?.cleanup();
    if (work) await removeDir(work);
  });

  it('backs up into a local directory over SSH; a second run copies only the new image and --verify re-hashes it all', async () => {
    let r = await rs(['backup'], ['--to', backupDir, '--json']);
    assert.equal(r.exitCode, 0, context);
    const first = jsonResult(String(r.stdout));
    // 2 images: manifest + config + layers
    assert.equal(first.copiedBlobs, 7, context);
    const manifest = JSON.parse(readFileSync(path.join(backupDir, 'docker/registry/v2/backup.json'), 'utf8'));
    assert.equal(manifest.repositories['team/app'].tags.v1, images.get('team/app:v1')!.manifestDigest);
    assert.equal(manifest.repositories['team/tool'].tags.v1, images.get('team/tool:v1')!.manifestDigest);

    await push('late', 'team/late:v1', [3_000, 4_000]);
    r = await rs(['backup'], ['--to', backupDir, '--verify', '--json']);
    assert.equal(r.exitCode, 0, context);
    const second = jsonResult(String(r.stdout));
    assert.equal(second.copiedBlobs, 4, `only the new image's manifest, config and 2 layers: ${context}`);
    assert.equal(second.skippedBlobs, 7, context);
    assert.deepEqual(second.verify.bad, []);
    assert.equal(second.verify.checked, 11);
  });

  it('restore refuses a deployment that has repositories, then restores into its emptied data directory', async () => {
    let r = await rs(['restore'], ['--from', backupDir]);
    assert.equal(r.exitCode, 1, context);
    assert.match(String(r.stderr), /is not empty \(\d+ repositories.*--repos/, context);

    const data = path.join(bed.installDir, 'data', 'docker');
    assert.ok(existsSync(data), 'the deployment keeps its data in <dir>/data');
    rmSync(data, { recursive: true, force: true });
    r = await rs(['restore'], ['--from', backupDir, '--json']);
    assert.equal(r.exitCode, 0, context);
    const result = jsonResult(String(r.stdout));
    assert.deepEqual([result.repositories, result.tags, result.blobs, result.verified], [3, 3, 11, true], context);
    for (const [repoTag, image] of images) {
      const pulled = await pullByDigest(repoTag.split(':')[0]!, image.manifestDigest);
      assert.equal(pulled.manifestDigest, image.manifestDigest, repoTag);
    }
  });
});
