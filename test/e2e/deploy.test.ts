import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { jsonEvents, jsonResult, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { buildOciImage } from '../helpers/oci.js';
import { skopeo } from '../helpers/skopeo.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';
import { sshdSkipReason } from '../helpers/sshd.js';
import { startPty } from '../helpers/pty.js';
import { freePort } from '../helpers/net.js';
import { repoRoot } from '../helpers/registries.js';
import { RegistryClient } from '../../src/client/registry-client.js';

const PASSWORD = 'e2e-deploy-password-1';

/** Hash of every file under a directory (names, modes and contents): proves a dry run wrote nothing. */
function treeDigest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = statSync(p);
      h.update(`${p} ${st.mode} ${st.uid}\n`);
      if (st.isDirectory()) walk(p);
      else h.update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

async function containerStarts(project: string): Promise<string> {
  const ids = (await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`])).stdout.split('\n').filter(Boolean);
  assert.equal(ids.length, 2, `expected 2 running containers of ${project}`);
  return (await execa('docker', ['inspect', '--format', '{{.Id}} {{.State.StartedAt}}', ...ids])).stdout.split('\n').sort().join('\n');
}

describe('deploy over SSH to this machine', { skip: sshdSkipReason() }, () => {
  let bed: DeployBed;
  let failureContext = '';
  before(async () => {
    bed = await startDeployBed('deploy');
  });
  after(async () => {
    await bed?.cleanup();
  });

  const run = async (args: string[], input = '') => {
    const r = await bed.cli(args, { input });
    failureContext = `exit ${r.exitCode}\nstderr:\n${String(r.stderr).split('\n').slice(-30).join('\n')}\nsshd:\n${bed.sshd.logTail(10)}`;
    return r;
  };

  it('deploys non-interactively and proves the registry works', async () => {
    const r = await run([...bed.deployArgs(['--password-stdin', '--json'])], PASSWORD);
    assert.equal(r.exitCode, 0, failureContext);
    const events = jsonEvents(String(r.stdout));
    const result = events.find((e) => e.type === 'result')!;
    assert.equal(result.changed, true);
    assert.equal(result.password, undefined, 'a password given on stdin is never printed');
    const verify = events.find((e) => e.type === 'step-end' && e.id === 'verify')!;
    assert.match(String(verify.detail), /401 without and 200 with credentials, push and pull ok/);
    assert.doesNotMatch(String(r.stdout) + String(r.stderr), new RegExp(PASSWORD));
    const logs = readdirSync(path.join(bed.home, '.registry-setup/logs'));
    for (const log of logs) assert.doesNotMatch(readFileSync(path.join(bed.home, '.registry-setup/logs', log), 'utf8'), new RegExp(PASSWORD));
    assert.match(readFileSync(path.join(bed.home, 'registry-setup.yaml'), 'utf8'), /domain: localhost/);
    assert.equal((statSync(path.join(bed.installDir, 'auth/htpasswd')).mode & 0o777).toString(8), '600');
  });

  it('serves skopeo and docker over HTTPS through nginx', async () => {
    const work = await makeTempDir('rs-deploy-clients-');
    try {
      const certDir = path.join(work, 'certs');
      mkdirSync(certDir);
      writeFileSync(path.join(certDir, 'ca.crt'), readFileSync(path.join(bed.installDir, 'tls/fullchain.pem')));
      const image = await buildOciImage(path.join(work, 'layout'), 'v1');
      const ref = `docker://localhost:${bed.httpsPort}/e2e/app:v1`;
      await skopeo(['copy', '--dest-cert-dir', certDir, '--dest-creds', `admin:${PASSWORD}`, `oci:${path.join(work, 'layout')}:v1`, ref]);
      const raw = await skopeo(['inspect', '--raw', '--cert-dir', certDir, '--creds', `admin:${PASSWORD}`, ref]);
      assert.equal(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`, image.manifestDigest);
      await assert.rejects(skopeo(['inspect', '--raw', '--cert-dir', certDir, ref]), /unauthorized|authentication required/i);

      const dockerConfig = path.join(work, 'docker');
      mkdirSync(dockerConfig);
      const env = { DOCKER_CONFIG: dockerConfig };
      const host = `localhost:${bed.httpsPort}`;
      await execa('docker', ['login', host, '-u', 'admin', '--password-stdin'], { input: PASSWORD, env });
      await execa('docker', ['pull', `${host}/e2e/app:v1`], { env });
      await execa('docker', ['tag', `${host}/e2e/app:v1`, `${host}/e2e/copy:v1`], { env });
      await execa('docker', ['push', `${host}/e2e/copy:v1`], { env });
      await execa('docker', ['rmi', `${host}/e2e/app:v1`, `${host}/e2e/copy:v1`], { env, reject: false });
    } finally {
      await removeDir(work);
    }
  });

  it('re-running with the same answers changes nothing and restarts nothing', async () => {
    const before = await containerStarts(bed.project);
    const tree = treeDigest(bed.installDir + '/tls') + treeDigest(bed.installDir + '/build') + readFileSync(path.join(bed.installDir, 'compose.yaml'), 'utf8');
    const r = await run([...bed.deployArgs(['--json'])]);
    assert.equal(r.exitCode, 0, failureContext);
    const events = jsonEvents(String(r.stdout));
    const changed = events.filter((e) => e.type === 'step-end' && (e.status === 'done' || e.status === 'planned'));
    assert.deepEqual(changed, [], 'every step reports unchanged');
    assert.equal(events.find((e) => e.type === 'result')!.changed, false);
    assert.equal(await containerStarts(bed.project), before);
    assert.equal(treeDigest(bed.installDir + '/tls') + treeDigest(bed.installDir + '/build') + readFileSync(path.join(bed.installDir, 'compose.yaml'), 'utf8'), tree);
  });

  it('--dry-run shows the plan for a changed answer and writes nothing', async () => {
    const before = treeDigest(bed.installDir);
    const starts = await containerStarts(bed.project);
    const r = await run([...bed.deployArgs(['--dry-run', '--json', '--https-port', String(bed.httpsPort)]).map((a) => (a === bed.nginxImage ? `${bed.nginxImage}-changed` : a))]);
    assert.equal(r.exitCode, 0, failureContext);
    const result = jsonResult(String(r.stdout));
    const files = result.files as { path: string; action: string; diff?: string }[];
    const compose = files.find((f) => f.path.endsWith('/compose.yaml'));
    assert.equal(compose?.action, 'update');
    assert.match(compose!.diff!, /^\+.*-changed/m);
    assert.equal(treeDigest(bed.installDir), before);
    assert.equal(await containerStarts(bed.project), starts);
  });

  it('asks for missing answers through the interactive wizard', async () => {
    const dir = await makeTempDir('rs-wizard-install-');
    const project = `${bed.project}-wizard`;
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const args = bed
      .deployArgs()
      .filter((a, i, all) => !['--yes', '--domain', '--user', '--tls'].includes(a) && !['--domain', '--user', '--tls'].includes(all[i - 1]!))
      .map((a) => (a === bed.installDir ? dir : a === bed.project ? project : a === String(bed.httpPort) ? String(httpPort) : a === String(bed.httpsPort) ? String(httpsPort) : a));
    const term = startPty([process.execPath, path.join(repoRoot, 'bin/registry-setup.js'), ...args], {
      cwd: bed.home,
      env: { HOME: bed.home, SSH_AUTH_SOCK: '', NO_COLOR: '1' },
    });
    try {
      await term.expect(/Domain of the registry/);
      term.send('localhost\r');
      await term.expect(/TLS certificate/);
      term.send('\x1b[B\r'); // second choice: self-signed
      await term.expect(/First registry user/);
      term.send('wizard\r');
      await term.expect(/Password for that user/);
      term.send('wizard-pass-123\r');
      const code = await Promise.race([term.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 240_000))]);
      assert.equal(code, 0, term.output().slice(-3000));
      assert.doesNotMatch(term.output(), /wizard-pass-123/, 'the typed password is not echoed');
      const client = new RegistryClient({
        baseUrl: `https://localhost:${httpsPort}`,
        user: 'wizard',
        password: 'wizard-pass-123',
        ca: readFileSync(path.join(dir, 'tls/fullchain.pem')),
      });
      assert.deepEqual(await client.ping(), { anonymous: 401, authenticated: 200 });
      assert.match(readFileSync(path.join(bed.home, 'registry-setup.yaml'), 'utf8'), /user: wizard/);
    } finally {
      term.kill();
      await execa('docker-compose', ['-p', project, '-f', path.join(dir, 'compose.yaml'), 'down'], { reject: false });
      await removeDir(dir);
    }
  });

  it('reaches a registry that Docker restarted on another address, without a reload of nginx', async () => {
    const registry = (await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${bed.project}`, '--filter', 'label=com.docker.compose.service=registry'])).stdout.trim();
    assert.ok(registry, 'the registry container runs');
    const network = `${bed.project}_default`;
    const address = async () => (await execa('docker', ['inspect', '--format', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, registry])).stdout.trim();
    const before = await address();
    // While the registry is stopped, another container takes its address (Docker hands out the lowest
    // free one); it listens on nothing.
    await execa('docker', ['stop', registry]);
    const squatter = `rs-squat-${process.pid}`;
    await execa('docker', ['run', '-d', '--name', squatter, '--network', network, bed.nodeImage, 'node', '-e', 'setTimeout(() => {}, 600000)']);
    try {
      await execa('docker', ['start', registry]);
      const after = await address();
      assert.notEqual(after, before, 'the registry came back on another address');
      const client = new RegistryClient({ baseUrl: `https://localhost:${bed.httpsPort}`, user: 'admin', password: PASSWORD, ca: readFileSync(path.join(bed.installDir, 'tls/fullchain.pem')) });
      const deadline = Date.now() + 90_000;
      let last: unknown;
      for (;;) {
        try {
          last = await client.ping();
          if ((last as { authenticated: number }).authenticated === 200) break;
        } catch (err) {
          last = err;
        }
        if (Date.now() > deadline) {
          const logs = await execa('docker-compose', ['-p', bed.project, '-f', path.join(bed.installDir, 'compose.yaml'), 'logs', '--tail', '30'], { reject: false });
          assert.fail(`not reached within 90 s (last: ${String((last as Error)?.message ?? JSON.stringify(last))}):\n${logs.stdout}\n${logs.stderr}`);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      await execa('docker', ['rm', '-f', squatter], { reject: false });
    }
  });

  it('refuses a changed host key with a message that says how to fix it', async () => {
    const knownHosts = path.join(bed.home, '.ssh/known_hosts');
    const original = readFileSync(knownHosts, 'utf8');
    try {
      // Record a different key for the same host:port, as if the server had been replaced.
      const other = await makeTempDir('rs-otherkey-');
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(other, 'k')]);
      const pub = readFileSync(path.join(other, 'k.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
      writeFileSync(knownHosts, `[127.0.0.1]:${bed.sshd.port} ${pub}\n`);
      await removeDir(other);
      const r = await run([...bed.deployArgs()]);
      assert.notEqual(r.exitCode, 0);
      assert.match(String(r.stderr), /host key .*changed/i);
      assert.match(String(r.stderr), /ssh-keygen -R/);
      assert.doesNotMatch(String(r.stderr), /\n\s+at /, 'no stack trace');
    } finally {
      writeFileSync(knownHosts, original);
    }
  });
});
