// Deploy with `mirrors:` on the loopback deploy bed: the registry container pulls through to an
// upstream distribution 2.8 (with basic auth, so the uploaded credentials file is used for real)
// that it reaches at docker0's address; skopeo pulls <domain>/<prefix>/<repo>:tag through nginx with
// the upstream's digest; a push under the prefix is refused; status prints the client snippets; a
// dry run with a changed list shows it (and warns about a prefix over pushed repositories); a
// deploy without the list turns mirroring off and removes the credentials. The tests build on
// each other, in order.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { jsonResult, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { writeHtpasswd } from '../helpers/htpasswd.js';
import { buildOciImage } from '../helpers/oci.js';
import { startDistribution, type RunningRegistry } from '../helpers/registries.js';
import { skopeo, skopeoCopy, skopeoInspectRaw, writeAuthfile } from '../helpers/skopeo.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { forwardTcp, type Forwarder } from '../helpers/tcp-forward.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';

const PASSWORD = 'e2e-mirror-password-1';
const UPSTREAM_USER = 'puller';
const UPSTREAM_PASSWORD = 'upstream-secret-7f3a9c';
/** docker0's address: the registry container reaches the host here (not at 127.0.0.1). */
const DOCKER_HOST_ADDRESS = '172.17.0.1';
const PREFIX = 'up.test';

describe('deploy with mirrors: (pull-through cache)', { skip: sshdSkipReason() ?? false }, () => {
  let bed: DeployBed;
  let upstream: RunningRegistry;
  let forward: Forwarder;
  let work: string;
  let config: string;
  let credentialsFile: string;
  let ourAuth: string;
  let layout: string;
  let image: Awaited<ReturnType<typeof buildOciImage>>;
  let context = '';
  const registry = () => `localhost:${bed.httpsPort}`;
  const cli = async (args: string[], input = '') => {
    const r = await bed.cli(args, { input });
    context = `registry-setup ${args.join(' ')}\nexit ${r.exitCode}\nstdout:\n${String(r.stdout).slice(-3000)}\nstderr:\n${String(r.stderr).split('\n').slice(-40).join('\n')}`;
    return r;
  };
  const registryLogs = () => {
    try {
      return execSync(`docker-compose -p ${bed.project} -f ${path.join(bed.installDir, 'compose.yaml')} logs --tail 20 registry`, { encoding: 'utf8' });
    } catch (err) {
      return String(err);
    }
  };
  const writeConfig = (doc: Record<string, unknown>) => writeFileSync(config, YAML.stringify(doc));
  const deployArgs = (extra: string[] = []) => [...bed.deployArgs(['--config', config, ...extra])];

  before(async () => {
    work = await makeTempDir('rs-mirror-e2e-');
    const htpasswd = await writeHtpasswd(path.join(work, 'upstream.htpasswd'), [{ user: UPSTREAM_USER, password: UPSTREAM_PASSWORD }]);
    [bed, upstream] = await Promise.all([startDeployBed('mirror'), startDistribution({ htpasswd })]);
    forward = await forwardTcp(DOCKER_HOST_ADDRESS, { host: '127.0.0.1', port: upstream.port });
    layout = path.join(work, 'layout');
    image = await buildOciImage(layout, 'v1', { layerSizes: [4096, 1024] });
    const upstreamAuth = await writeAuthfile(path.join(work, 'upstream-auth.json'), upstream.host, UPSTREAM_USER, UPSTREAM_PASSWORD);
    await skopeoCopy(`oci:${layout}:v1`, `docker://${upstream.host}/library/app:1`, { preserveDigests: true, destAuthfile: upstreamAuth });
    credentialsFile = path.join(work, 'upstream-credentials');
    writeFileSync(credentialsFile, `username = ${UPSTREAM_USER}\npassword = ${UPSTREAM_PASSWORD}\n`, { mode: 0o600 });
    ourAuth = await writeAuthfile(path.join(work, 'our-auth.json'), `localhost:${bed.httpsPort}`, 'admin', PASSWORD);
    config = path.join(bed.home, 'mirrors.yaml');
  });

  after(async () => {
    await bed?.cleanup();
    await forward?.close();
    await upstream?.stop();
    if (work) await removeDir(work);
  });

  it('deploys the mirror: variables in compose.yaml, the credentials uploaded 0600 and never shown', async () => {
    writeConfig({ mirrors: [{ prefix: PREFIX, url: `http://${DOCKER_HOST_ADDRESS}:${forward.port}`, credentials: credentialsFile }], mirrorTagTtl: '1m' });
    const started = Date.now();
    const r = await cli(deployArgs(['--password-stdin', '--json']), PASSWORD);
    process.stderr.write(`# deploy with a mirror: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    assert.equal(r.exitCode, 0, context);
    jsonResult(String(r.stdout));
    const compose = readFileSync(path.join(bed.installDir, 'compose.yaml'), 'utf8');
    assert.match(compose, new RegExp(`REGISTRY_MIRRORS: ${PREFIX}=http://${DOCKER_HOST_ADDRESS}:${forward.port}\\n`));
    assert.match(compose, new RegExp(`REGISTRY_MIRRORS_CREDENTIALS: ${PREFIX}=/etc/registry-setup/mirror-credentials/${PREFIX}\\n`));
    const uploaded = path.join(bed.installDir, 'mirror-credentials', PREFIX);
    const st = statSync(uploaded);
    assert.equal(`${(st.mode & 0o777).toString(8)} ${st.uid}:${st.gid}`, '600 1000:1000');
    assert.equal(readFileSync(uploaded, 'utf8'), `username = ${UPSTREAM_USER}\npassword = ${UPSTREAM_PASSWORD}\n`);
    const logs = readdirSync(path.join(bed.home, '.registry-setup/logs')).map((f) => readFileSync(path.join(bed.home, '.registry-setup/logs', f), 'utf8'));
    for (const text of [compose, String(r.stdout), String(r.stderr), readFileSync(config, 'utf8'), readFileSync(path.join(bed.installDir, 'registry-setup.json'), 'utf8'), ...logs]) {
      assert.doesNotMatch(text, new RegExp(UPSTREAM_PASSWORD), 'the upstream password appears only in the uploaded file');
    }
  });

  it('pulls <domain>/<prefix>/<repo>:tag through nginx with the upstream digest, and refuses a push under the prefix', async () => {
    const ref = `docker://${registry()}/${PREFIX}/library/app:1`;
    let inspected: { digest: string } | undefined;
    try {
      inspected = await skopeoInspectRaw(ref, { authfile: ourAuth });
    } catch (err) {
      assert.fail(`${(err as Error).message}\nregistry:\n${registryLogs()}\nupstream:\n${upstream.logTail(10)}`);
    }
    assert.equal(inspected.digest, image.manifestDigest);
    const pulled = path.join(work, 'pulled');
    await skopeo(['copy', '--src-tls-verify=false', '--src-authfile', ourAuth, ref, `oci:${pulled}:1`]);
    const index = JSON.parse(readFileSync(path.join(pulled, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, image.manifestDigest, 'every blob arrived (skopeo verifies each digest)');
    assert.doesNotMatch(execSync('ps -eo args', { encoding: 'utf8' }), new RegExp(UPSTREAM_PASSWORD), 'no process has the upstream password in its arguments');

    const push = await skopeo(['copy', '--dest-tls-verify=false', '--dest-authfile', ourAuth, `oci:${layout}:v1`, `docker://${registry()}/${PREFIX}/mine:1`]).then(
      () => undefined,
      (err: Error) => err.message,
    );
    assert.ok(push, 'a push under the mirror prefix fails');
    // the registry's own words reach the client through nginx
    assert.match(push, /denied: up\.test\/mine is under the mirror prefix up\.test\/ \(a read-only cache of http:\/\/172\.17\.0\.1:\d+\): push to a name outside it/, push);
    // outside the prefix the registry stays an ordinary registry (the dry run below needs this push)
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-authfile', ourAuth, `oci:${layout}:v1`, `docker://${registry()}/ours/app:1`]);
  });

  it('status prints the client snippets with the deployment name, also in --json', async () => {
    const r = await cli(['status', bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--json']);
    const result = jsonResult(String(r.stdout));
    const mirrors = (result.mirrors ?? result.report?.mirrors) as { registriesConf: { content: string }; containerd: { content: string }[]; dockerNote?: string };
    assert.ok(mirrors, context);
    assert.match(mirrors.registriesConf.content, new RegExp(`location = "localhost:${bed.httpsPort}/${PREFIX}"`));
    assert.match(mirrors.containerd[0]!.content, new RegExp(`\\[host\\."https://localhost:${bed.httpsPort}/v2/${PREFIX}"\\]`));
    assert.match(String(mirrors.dockerNote), /Docker Hub names only/);
  });

  it('a dry run with a changed list shows the change and warns about a prefix over pushed repositories', async () => {
    writeConfig({
      mirrors: [
        { prefix: PREFIX, url: `http://${DOCKER_HOST_ADDRESS}:${forward.port}`, credentials: credentialsFile },
        `ours=http://${DOCKER_HOST_ADDRESS}:${forward.port}`,
      ],
      mirrorTagTtl: '1m',
    });
    const r = await cli(deployArgs(['--dry-run']));
    assert.equal(r.exitCode, 0, context);
    const err = String(r.stderr);
    assert.match(err, /the new mirror prefix ours\/ covers pushed repositories \(ours\/app\)/);
    assert.match(err, /\+\s+REGISTRY_MIRRORS: up\.test=http:\/\/172\.17\.0\.1:\d+,ours=http:\/\/172\.17\.0\.1:\d+/);
    assert.doesNotMatch(err, /the new mirror prefix up\.test/, 'a prefix already deployed is not new');
    assert.doesNotMatch(String(r.stdout) + err, new RegExp(UPSTREAM_PASSWORD));
    assert.doesNotMatch(readFileSync(path.join(bed.installDir, 'compose.yaml'), 'utf8'), /ours=/, 'a dry run changes nothing');
  });

  it('a deploy without the list turns mirroring off and removes the credentials', async () => {
    writeConfig({});
    const r = await cli(deployArgs(['--json']));
    assert.equal(r.exitCode, 0, context);
    assert.doesNotMatch(readFileSync(path.join(bed.installDir, 'compose.yaml'), 'utf8'), /REGISTRY_MIRRORS|mirror-credentials/);
    assert.deepEqual(readdirSync(path.join(bed.installDir, 'mirror-credentials')), []);
    assert.doesNotMatch(readFileSync(config, 'utf8'), /mirrors/);
    // a tag the upstream has now: with mirroring on it would be fetched, now the name is ours alone
    const upstreamAuth = path.join(work, 'upstream-auth.json');
    await skopeoCopy(`oci:${layout}:v1`, `docker://${upstream.host}/library/app:2`, { preserveDigests: true, destAuthfile: upstreamAuth });
    const fresh = await skopeoInspectRaw(`docker://${registry()}/${PREFIX}/library/app:2`, { authfile: ourAuth }).then(
      () => 'pulled',
      (e: Error) => e.message,
    );
    assert.match(fresh, /manifest unknown|not found|name unknown/i, fresh);
    const push = await skopeo(['copy', '--dest-tls-verify=false', '--dest-authfile', ourAuth, `oci:${layout}:v1`, `docker://${registry()}/${PREFIX}/mine:1`]);
    assert.ok(push, 'pushes under the former prefix work again');
  });
});
