// migrate <target> --to s3://…: a deployment on its data directory moves to the Ceph RGW bucket of
// the S3 tests while it serves; every image pulls by digest afterwards, and --cleanup deletes the
// old directory's images only then.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { jsonResult, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { buildOciImage, readLayoutImage, type BuiltImage } from '../helpers/oci.js';
import { rgwAvailable, startRgw, type Rgw } from '../helpers/rgw.js';
import { s3Client } from '../helpers/s3-store.js';
import { skopeo } from '../helpers/skopeo.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { forwardTcp, type Forwarder } from '../helpers/tcp-forward.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';

const PASSWORD = 'e2e-migrate-password-1';
// the containers reach the loopback RGW through docker0's address
const DOCKER_HOST_ADDRESS = '172.17.0.1';

describe('migrate a deployment from its data directory to a bucket', { skip: sshdSkipReason() ?? rgwAvailable() ?? false }, () => {
  let bed: DeployBed;
  let rgw: Rgw;
  let forward: Forwarder;
  let s3: S3Client;
  let work: string;
  let certDir: string;
  let bucket: string;
  let storage: string;
  let credentialsFile: string;
  let context = '';
  const images = new Map<string, BuiltImage>();
  const host = () => `localhost:${bed.httpsPort}`;

  const rs = async (extra: string[]) => {
    const args = ['migrate', bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--compose-project', bed.project, ...extra];
    const r = await bed.cli(args);
    context = `registry-setup ${args.join(' ')}\nexit ${r.exitCode}\nstdout:\n${String(r.stdout).slice(-3000)}\nstderr:\n${String(r.stderr).split('\n').slice(-40).join('\n')}`;
    return r;
  };
  const push = async (name: string, repoTag: string, layerSizes: number[]) => {
    const layout = path.join(work, name);
    images.set(repoTag, await buildOciImage(layout, 'v1', { layerSizes }));
    await skopeo(['copy', '--dest-cert-dir', certDir, '--dest-creds', `admin:${PASSWORD}`, `oci:${layout}:v1`, `docker://${host()}/${repoTag}`], { redact: [PASSWORD] });
  };
  const pullEveryImage = async () => {
    for (const [repoTag, image] of images) {
      const dir = await makeTempDir('rs-migrate-pull-');
      try {
        const repo = repoTag.split(':')[0]!;
        await skopeo(['copy', '--src-cert-dir', certDir, '--src-creds', `admin:${PASSWORD}`, `docker://${host()}/${repo}@${image.manifestDigest}`, `oci:${dir}:pulled`], { redact: [PASSWORD] });
        assert.equal((await readLayoutImage(dir, image.manifestDigest)).manifestDigest, image.manifestDigest, repoTag);
      } finally {
        await removeDir(dir);
      }
    }
  };

  before(async () => {
    [bed, rgw] = await Promise.all([startDeployBed('migrate'), startRgw()]);
    const rgwUrl = new URL(rgw.endpoint);
    forward = await forwardTcp(DOCKER_HOST_ADDRESS, { host: rgwUrl.hostname, port: Number(rgwUrl.port) });
    s3 = s3Client(rgw);
    bucket = `migrate-${randomBytes(4).toString('hex')}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    storage = `s3://${bucket}/registry?endpoint=http://${DOCKER_HOST_ADDRESS}:${forward.port}`;
    work = await makeTempDir('rs-migrate-work-');
    credentialsFile = path.join(work, 's3-credentials');
    writeFileSync(credentialsFile, `access_key_id = ${rgw.accessKey}\nsecret_access_key = ${rgw.secretKey}\n`, { mode: 0o600 });
    const r = await bed.cli(bed.deployArgs(['--password-stdin']), { input: PASSWORD });
    assert.equal(r.exitCode, 0, `deploy failed:\n${String(r.stderr).slice(-3000)}`);
    certDir = path.join(work, 'certs');
    mkdirSync(certDir);
    writeFileSync(path.join(certDir, 'ca.crt'), readFileSync(path.join(bed.installDir, 'tls/fullchain.pem')));
    await push('app', 'team/app:v1', [1_000, 200_000]);
    await push('tool', 'team/tool:v1', [2_000]);
  });
  after(async () => {
    s3?.destroy();
    await bed?.cleanup();
    await forward?.close();
    await rgw?.stop();
    if (work) await removeDir(work);
  });

  it('--cleanup before any migration refuses and deletes nothing', async () => {
    const r = await rs(['--cleanup']);
    assert.equal(r.exitCode, 1, context);
    assert.match(String(r.stderr), /no migration is recorded/, context);
    assert.ok(existsSync(path.join(bed.installDir, 'data/docker')));
  });

  it('moves the images into the bucket while serving; they pull by digest from the bucket; --cleanup removes the old directory', async () => {
    let r = await rs(['--to', storage, '--s3-credentials', credentialsFile, '--json']);
    assert.equal(r.exitCode, 0, context);
    const result = jsonResult(String(r.stdout));
    assert.equal(result.to, storage);
    assert.ok(!`${String(r.stdout)}${String(r.stderr)}`.includes(rgw.secretKey), 'the secret is in no output');
    const recorded = JSON.parse(readFileSync(path.join(bed.installDir, 'registry-setup.json'), 'utf8'));
    assert.equal(recorded.settings.storage, storage, context);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'registry/docker/registry/v2/repositories/team/app/_manifests/tags/v1/' }));
    assert.ok((listed.KeyCount ?? 0) > 0, 'the tag is in the bucket');
    // the old directory is kept until --cleanup
    assert.ok(existsSync(path.join(bed.installDir, 'data/docker')));
    await pullEveryImage();

    r = await rs(['--cleanup', '--json']);
    assert.equal(r.exitCode, 0, context);
    assert.ok(jsonResult(String(r.stdout)).cleanedAt);
    assert.ok(!existsSync(path.join(bed.installDir, 'data/docker')), 'the old images are gone');
    await pullEveryImage();
  });
});
