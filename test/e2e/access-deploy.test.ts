// Access control deployed over SSH on the loopback deploy bed: deploy with an access: section in
// registry-setup.yaml, then through nginx a read-only user pulls but may not push, `access check`
// names the deciding rule, a changed policy is shown by --dry-run and applied by a re-deploy
// without a restart, a token made by `tokens create` signs in and pushes within its scope only,
// and `tokens revoke` shuts it out within 2 s without a restart; a --config file without access:
// removes the policy (and says so), and tokens still work without one.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { RegistryClient } from '../../src/client/registry-client.js';
import { jsonResult, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { sshdSkipReason } from '../helpers/sshd.js';

const ADMIN_PASSWORD = 'e2e-access-admin-pw-1';
const READER_PASSWORD = 'e2e-access-reader-pw-2';

const CONFIG = `access:
  repositories:
    "app/**":
      policies:
        - users: [ci-app]
          actions: [read, create]
      defaultPolicy: [read]
  adminPolicy:
    users: [admin]
    actions: [read, create, update, delete]
`;

async function registryStartedAt(project: string): Promise<string> {
  const id = (await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'label=com.docker.compose.service=registry'])).stdout.trim();
  return (await execa('docker', ['inspect', '--format', '{{.State.StartedAt}}', id])).stdout.trim();
}

describe('access control deployed over SSH', { skip: sshdSkipReason() }, () => {
  let bed: DeployBed;
  let ca: Buffer;
  let context = '';
  const hostArgs = (words: string[], positional: string[] = [], extra: string[] = []) => [
    ...words, bed.sshd.target('root'), ...positional, '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--compose-project', bed.project, ...extra,
  ];
  const rs = async (words: string[], positional: string[] = [], extra: string[] = [], input?: string) => {
    const args = hostArgs(words, positional, extra);
    const r = await bed.cli(args, { input });
    context = `registry-setup ${args.join(' ')}\nexit ${r.exitCode}\nstdout:\n${String(r.stdout).slice(-2000)}\nstderr:\n${String(r.stderr).split('\n').slice(-20).join('\n')}`;
    return r;
  };
  const client = (user?: string, password?: string) => new RegistryClient({ baseUrl: `https://localhost:${bed.httpsPort}`, user, password, ca });

  before(async () => {
    bed = await startDeployBed('access');
    writeFileSync(path.join(bed.home, 'registry-setup.yaml'), CONFIG);
    const r = await bed.cli(bed.deployArgs(['--config', 'registry-setup.yaml', '--password-stdin']), { input: ADMIN_PASSWORD });
    assert.equal(r.exitCode, 0, `deploy failed:\n${String(r.stderr).slice(-3000)}`);
    // the policy names ci-app before the token exists: deploy says so
    assert.match(String(r.stderr), /the access policy names ci-app, who is neither a registry user nor a CI token/);
    ca = readFileSync(path.join(bed.installDir, 'tls/fullchain.pem'));
    const policy = statSync(path.join(bed.installDir, 'auth/access.yaml'));
    assert.deepEqual([policy.mode & 0o777, policy.uid], [0o600, 1000]);
    const added = await rs(['users', 'add'], ['reader'], ['--password-stdin'], READER_PASSWORD);
    assert.equal(added.exitCode, 0, context);
    await client('admin', ADMIN_PASSWORD).pushAndPullTinyImage('app/web', 'v1');
  });
  after(async () => {
    await bed?.cleanup();
  });

  it('a read-only user pulls but may not push (403 DENIED through nginx); access check names the rule', async () => {
    const reader = client('reader', READER_PASSWORD);
    assert.equal((await reader.request('GET', '/v2/app/web/manifests/v1', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status, 200);
    const push = await reader.request('POST', '/v2/app/web/blobs/uploads/');
    assert.equal(push.status, 403);
    assert.equal(JSON.parse(push.body.toString()).errors[0].code, 'DENIED');
    await assert.rejects(reader.pushAndPullTinyImage('app/other', 'v1'), /start upload/);

    let r = await rs(['access', 'check'], ['reader', 'app/web', 'create']);
    assert.equal(r.exitCode, 1, context);
    assert.match(String(r.stdout), /^denied: reader may not create app\/web\n  decided by repositories\["app\/\*\*"\] \(the longest matching glob\) gives user reader no create$/m);
    r = await rs(['access', 'check'], ['reader', 'app/web', 'read'], ['--json']);
    assert.equal(r.exitCode, 0, context);
    assert.deepEqual(jsonResult(String(r.stdout)), { type: 'result', time: jsonResult(String(r.stdout)).time, allowed: true, rule: 'repositories["app/**"].defaultPolicy', user: 'reader', repository: 'app/web', action: 'read' });
    r = await rs(['access', 'show']);
    assert.equal(r.exitCode, 0, context);
    assert.match(String(r.stdout), /^  reader\s+read\s+\(repositories\["app\/\*\*"\]\.defaultPolicy\)$/m);
  });

  it('tokens create: the secret is shown once and in no log; it pushes in scope only; revoke shuts it out within 2 s, no restart', async () => {
    const started = await registryStartedAt(bed.project);
    let r = await rs(['tokens', 'create'], [], ['--name', 'ci-app', '--repos', 'app/**', '--actions', 'read,create', '--expires', '90d', '--json']);
    assert.equal(r.exitCode, 0, context);
    const created = jsonResult(String(r.stdout));
    const secret = String(created.secret);
    assert.ok(secret.length >= 43, context);
    const logDir = path.join(bed.home, '.registry-setup/logs');
    for (const f of readdirSync(logDir)) assert.ok(!readFileSync(path.join(logDir, f), 'utf8').includes(secret), `the secret is in the command log ${f}`);
    assert.ok(!readFileSync(path.join(bed.installDir, 'auth/tokens.yaml'), 'utf8').includes(secret), 'only the hash is on the host');

    const token = client('ci-app', secret);
    await token.pushAndPullTinyImage('app/ci', 'build-1');
    const outside = await token.request('POST', '/v2/other/ci/blobs/uploads/');
    assert.equal(outside.status, 403, 'outside its repositories');

    r = await rs(['tokens', 'list'], [], ['--json']);
    assert.equal(r.exitCode, 0, context);
    const listed = jsonResult(String(r.stdout)).tokens;
    assert.deepEqual(listed.map((t: { name: string; scope: string }) => [t.name, t.scope]), [['ci-app', 'app/**: read, create']]);

    r = await rs(['tokens', 'revoke'], ['ci-app']);
    assert.equal(r.exitCode, 0, context);
    const revokedAt = Date.now();
    let status = 0;
    while (Date.now() - revokedAt < 5_000) {
      status = (await token.request('GET', '/v2/')).status;
      if (status === 401) break;
      await delay(100);
    }
    assert.equal(status, 401, 'the revoked token still signs in');
    assert.ok(Date.now() - revokedAt <= 2_000, `refused only after ${Date.now() - revokedAt} ms`);
    assert.equal(await registryStartedAt(bed.project), started, 'the registry was not restarted');
  });

  it('a changed policy: --dry-run shows its diff; the re-deploy applies it within a second, without a restart', async () => {
    const started = await registryStartedAt(bed.project);
    writeFileSync(path.join(bed.home, 'registry-setup.yaml'), CONFIG.replace('      defaultPolicy: [read]', '      defaultPolicy: [read, create]'));
    const args = ['--config', 'registry-setup.yaml'];
    let r = await bed.cli(bed.deployArgs([...args, '--dry-run']));
    assert.equal(r.exitCode, 0, String(r.stderr).slice(-3000));
    assert.match(String(r.stderr), /^\s*\+\s+- create$/m, 'the policy diff');
    assert.match(String(r.stderr), /auth\/access\.yaml/);
    r = await bed.cli(bed.deployArgs(args));
    assert.equal(r.exitCode, 0, String(r.stderr).slice(-3000));
    const written = Date.now();
    const reader = client('reader', READER_PASSWORD);
    let status = 0;
    while (Date.now() - written < 5_000) {
      status = (await reader.request('POST', '/v2/app/web/blobs/uploads/')).status;
      if (status === 202) break;
      await delay(100);
    }
    assert.equal(status, 202, 'reader may push now');
    assert.ok(Date.now() - written <= 1_500, `applied only after ${Date.now() - written} ms`);
    assert.equal(await registryStartedAt(bed.project), started, 'the registry was not restarted');
  });

  it('a --config file without access: removes the policy (one line, --dry-run first); tokens create works without a policy, a token held to its scope', async () => {
    writeFileSync(path.join(bed.home, 'registry-setup.yaml'), '# no access: section\n');
    const args = ['--config', 'registry-setup.yaml'];
    const policyFile = path.join(bed.installDir, 'auth/access.yaml');
    let r = await bed.cli(bed.deployArgs([...args, '--dry-run']));
    assert.equal(r.exitCode, 0, String(r.stderr).slice(-3000));
    assert.match(String(r.stderr), /deploy would remove the access policy from \S+: every signed-in user may then do everything again/);
    assert.ok(existsSync(policyFile), '--dry-run removed the policy');
    r = await bed.cli(bed.deployArgs(args));
    assert.equal(r.exitCode, 0, String(r.stderr).slice(-3000));
    assert.match(String(r.stderr), /deploy removes the access policy from \S+: every signed-in user may then do everything again/);
    assert.ok(!existsSync(policyFile), 'auth/access.yaml is still there');
    const reader = client('reader', READER_PASSWORD);
    assert.equal((await reader.request('POST', '/v2/other/x/blobs/uploads/')).status, 202, 'without a policy every signed-in user may push');
    r = await rs(['access', 'show']);
    assert.equal(r.exitCode, 0, context);
    assert.match(String(r.stdout), /^no access policy: every signed-in user may do everything/m);

    r = await rs(['tokens', 'create'], [], ['--name', 'ci-read', '--repos', 'app/**', '--actions', 'read', '--json']);
    assert.equal(r.exitCode, 0, context);
    const token = client('ci-read', String(jsonResult(String(r.stdout)).secret));
    const createdAt = Date.now();
    let status = 0;
    while (Date.now() - createdAt < 5_000) {
      status = (await token.request('GET', '/v2/app/web/manifests/v1', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status;
      if (status === 200) break;
      await delay(100);
    }
    assert.equal(status, 200, 'the token reads within its scope');
    assert.equal((await token.request('POST', '/v2/app/web/blobs/uploads/')).status, 403, 'no create in its scope');
    assert.equal((await token.request('GET', '/v2/other/x/tags/list')).status, 403, 'nothing outside its scope');
  });
});
