// The access: section of registry-setup.yaml: checked by the registry's parser with its lines in
// the config file, saved back as a mapping, deployed as auth/access.yaml (0600, the registry's
// uid) with the contract's variables in compose.yaml, shown as a diff by --dry-run; and what
// deploy decides around it (the shared tokens file on every deployment, users the policy names who
// cannot sign in, the removal of a policy a --config file no longer has).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { planDiff, renderDeploymentFiles, type RenderDeploymentOptions } from '../../src/provision/index.js';
import { deployCheckDenied, EMPTY_TOKENS_FILE, policiesToRemove, policyRemovedLine, policyUsersWithoutLogin, removeAccessPolicyArgv, sharedTokensFile, tokensFileForUpgrade } from '../../src/provision/access-control.js';
import { withConfigSections } from '../../src/settings/retention.js';
import { accessFileContent } from '../../src/settings/access.js';
import { completeSettings, loadConfigFile, renderConfigFile, SettingsError } from '../../src/settings/resolve.js';
import type { DeploySettings } from '../../src/settings/settings.js';
import { TempDirs } from '../helpers/tmp.js';

const tmp = new TempDirs();
after(() => tmp.cleanup());

const CONFIG = `target: root@203.0.113.10
domain: registry.example.com
user: admin
tls: self-signed
access:
  groups:
    servers: { users: [web1, web2] }
  repositories:
    "app/**":
      policies:
        - users: [ci-app]
          actions: [read, create]
      defaultPolicy: [read]
    "public/**":
      anonymousPolicy: [read]
  adminPolicy:
    users: [admin]
    actions: [read, create, update, delete]
`;

async function configFile(text: string): Promise<string> {
  const file = join(await tmp.make('rs-access-'), 'registry-setup.yaml');
  await writeFile(file, text);
  return file;
}

const PAYLOAD = [{ path: 'registry.mjs', content: Buffer.from('export {};\n') }];
const HTPASSWD = 'admin:$2y$10$abcdefghijklmnopqrstuu5Ilz0S3ZQkP3v1mG8t8fV1l8K0kQj7m\n';
const opts: RenderDeploymentOptions = { version: '0.1.0', registryPayload: PAYLOAD, htpasswd: HTPASSWD, uploadSecret: 'u'.repeat(43) };

async function deployed(text = CONFIG): Promise<DeploySettings> {
  return completeSettings(await loadConfigFile(await configFile(text)));
}

describe('access: in registry-setup.yaml', () => {
  test('a valid section becomes policy text; saved back as a mapping, it loads to the same text', async () => {
    const s = await deployed();
    assert.equal(typeof s.access, 'string');
    assert.deepEqual(parse(s.access!), parse(CONFIG).access);
    const saved = renderConfigFile(s);
    assert.deepEqual(parse(saved).access, parse(CONFIG).access, 'saved as a mapping, not a string');
    assert.equal((await deployed(saved)).access, s.access);
  });

  test('a mistake is reported with its line in registry-setup.yaml and the key', async () => {
    const bad = CONFIG.replace('actions: [read, create]', 'actions: [read, push]');
    const file = await configFile(bad);
    await assert.rejects(loadConfigFile(file), (err: Error) => {
      assert.ok(err instanceof SettingsError);
      assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: access: line 12: repositories\\["app/\\*\\*"\\]\\.policies\\[0\\]\\.actions: unknown action "push"`));
      return true;
    });
    await assert.rejects(loadConfigFile(await configFile(CONFIG.replace('  adminPolicy:', '  "lib/*": {}\n  adminPolicy:'))), /access: line 16: "lib\/\*" looks like a repository glob/);
  });

  test('no access: (or an empty one) leaves the setting out', async () => {
    assert.equal((await deployed(CONFIG.slice(0, CONFIG.indexOf('access:')))).access, undefined);
    assert.equal((await deployed(`${CONFIG.slice(0, CONFIG.indexOf('access:'))}access:\n`)).access, undefined);
  });
});

describe('deploying the policy', () => {
  test('auth/access.yaml (0600, uid 1000) and the contract variables in compose.yaml; the tokens file when given', async () => {
    const s = await deployed();
    const { files } = renderDeploymentFiles(s, { ...opts, ciTokens: EMPTY_TOKENS_FILE });
    const policy = files.find((f) => f.path === '/opt/registry-setup/auth/access.yaml');
    assert.ok(policy, files.map((f) => f.path).join(' '));
    assert.deepEqual([policy.mode, policy.owner, policy.group, policy.sensitive], [0o600, 1000, 1000, undefined]);
    assert.equal(policy.content, accessFileContent(s.access!));
    const tokens = files.find((f) => f.path === '/opt/registry-setup/auth/tokens.yaml');
    assert.deepEqual([tokens?.content, tokens?.mode, tokens?.owner, tokens?.sensitive], [EMPTY_TOKENS_FILE, 0o600, 1000, true]);
    const compose = parse(files.find((f) => f.path.endsWith('/compose.yaml'))!.content as string);
    const env = compose.services.registry.environment;
    assert.equal(env.REGISTRY_AUTH_ACCESS_PATH, '/etc/registry-setup/auth/access.yaml');
    assert.equal(env.REGISTRY_AUTH_TOKENS_PATH, '/etc/registry-setup/auth/tokens.yaml');
    assert.equal(env.REGISTRY_AUTH_TOKENS_USAGEPATH, '/var/lib/registry-setup/state/tokens-usage.json');
    // rendered without ciTokens (the tokens commands own the file): the host's tokens file is left alone
    assert.ok(!renderDeploymentFiles(s, opts).files.some((f) => f.path.endsWith('/tokens.yaml')));
  });

  test('without access: no policy file and no policy variable, but the tokens file and its variables (CI tokens work on every deployment)', async () => {
    const s = await deployed(CONFIG.slice(0, CONFIG.indexOf('access:')));
    const { files } = renderDeploymentFiles(s, { ...opts, ciTokens: EMPTY_TOKENS_FILE });
    assert.ok(!files.some((f) => f.path.includes('/auth/access.yaml')));
    const tokens = files.find((f) => f.path === '/opt/registry-setup/auth/tokens.yaml');
    assert.deepEqual([tokens?.content, tokens?.mode, tokens?.owner, tokens?.sensitive], [EMPTY_TOKENS_FILE, 0o600, 1000, true]);
    const env = parse(files.find((f) => f.path.endsWith('/compose.yaml'))!.content as string).services.registry.environment;
    assert.equal(env.REGISTRY_AUTH_ACCESS_PATH, undefined);
    assert.equal(env.REGISTRY_AUTH_TOKENS_PATH, '/etc/registry-setup/auth/tokens.yaml');
    assert.equal(env.REGISTRY_AUTH_TOKENS_USAGEPATH, '/var/lib/registry-setup/state/tokens-usage.json');
  });

  test('removing access: with --config drops the policy; without --config the host record keeps it', async () => {
    const withPolicy = await deployed();
    const fileWithout = await loadConfigFile(await configFile(CONFIG.slice(0, CONFIG.indexOf('access:'))));
    // the host's record (withPolicy) merged under the file, as deploy does
    const merged = { ...withPolicy, ...fileWithout };
    assert.equal(merged.access, withPolicy.access, 'without --config the record decides');
    const s = completeSettings(withConfigSections(merged, fileWithout));
    assert.equal(s.access, undefined, 'with --config the file is the whole truth');
    // --dry-run's diff: compose.yaml loses the policy variable (the registry is recreated), the policy file is not rendered
    const before = renderDeploymentFiles(withPolicy, { ...opts, ciTokens: EMPTY_TOKENS_FILE }).files;
    const after = renderDeploymentFiles(s, { ...opts, ciTokens: EMPTY_TOKENS_FILE }).files;
    const remote = new Map(before.map((f) => [f.path, { content: f.content, mode: f.mode, uid: Number(f.owner ?? 0), gid: Number(f.group ?? 0) }]));
    const changed = planDiff(after, remote).filter((p) => p.action !== 'unchanged');
    assert.deepEqual(changed.map((p) => p.path).sort(), ['/opt/registry-setup/compose.yaml', '/opt/registry-setup/registry-setup.json']);
    assert.match(changed.find((p) => p.path.endsWith('/compose.yaml'))!.diff!, /^-\s+REGISTRY_AUTH_ACCESS_PATH: \/etc\/registry-setup\/auth\/access.yaml$/m);
    // the hosts that still have a policy file lose it, and deploy says so in one line
    const hosts = ['a', 'b', 'c'];
    const copies = [Buffer.from('x'), null, Buffer.from('y')];
    assert.deepEqual(policiesToRemove(undefined, hosts, copies), ['a', 'c']);
    assert.deepEqual(policiesToRemove(withPolicy.access, hosts, copies), []);
    assert.deepEqual(policiesToRemove(undefined, hosts, [null, null, null]), []);
    const line = policyRemovedLine(['a', 'c'], true);
    assert.match(line, /^the settings have no access: section, so deploy would remove the access policy from a, c: every signed-in user may then do everything again/);
    assert.ok(!line.includes('\n'));
    assert.match(policyRemovedLine(['a'], false), /deploy removes the access policy from a:/);
    assert.deepEqual(removeAccessPolicyArgv('/opt/registry-setup/'), ['rm', '-f', '--', '/opt/registry-setup/auth/access.yaml']);
  });

  test('--dry-run shows a changed policy as a diff, and only the policy file changes', async () => {
    const before = renderDeploymentFiles(await deployed(), opts).files;
    const after = renderDeploymentFiles(await deployed(CONFIG.replace('defaultPolicy: [read]', 'defaultPolicy: [read, create]')), opts).files;
    const remote = new Map(before.map((f) => [f.path, { content: f.content, mode: f.mode, uid: Number(f.owner ?? 0), gid: Number(f.group ?? 0) }]));
    const changed = planDiff(after, remote).filter((p) => p.action !== 'unchanged');
    // compose.yaml unchanged: the registry is not restarted (it re-reads the policy file itself)
    assert.deepEqual(changed.map((p) => p.path).sort(), ['/opt/registry-setup/auth/access.yaml', '/opt/registry-setup/registry-setup.json']);
    const policy = changed.find((p) => p.path.endsWith('/access.yaml'))!;
    assert.match(policy.diff!, /^\+\s+- create\n/m);
    assert.match(policy.diff!, /^--- a\/opt\/registry-setup\/auth\/access.yaml$/m);
  });

  test('users the policy names who are neither registry users nor tokens', async () => {
    const s = await deployed();
    assert.deepEqual(policyUsersWithoutLogin(s.access!, ['admin', 'web1'], EMPTY_TOKENS_FILE), ['ci-app', 'web2']);
    const tokens = `tokens:\n  - name: ci-app\n    sha256: ${'a'.repeat(64)}\n    repositories: ["app/**"]\n    actions: [read]\n`;
    assert.deepEqual(policyUsersWithoutLogin(s.access!, ['admin', 'web1', 'web2'], tokens), []);
  });

  test('the tokens file: the first host that has one gives it to all, else an empty one', () => {
    assert.deepEqual(sharedTokensFile([null, null]), { content: EMPTY_TOKENS_FILE, changed: true });
    assert.deepEqual(sharedTokensFile([null, Buffer.from('tokens: [x]\n')]), { content: 'tokens: [x]\n', changed: true });
    assert.deepEqual(sharedTokensFile([Buffer.from(EMPTY_TOKENS_FILE)]), { content: EMPTY_TOKENS_FILE, changed: false });
  });

  test('upgrade keeps the host\'s tokens file as it is, and gives an older deployment without one an empty file (compose.yaml points the registry at it)', async () => {
    const s = await deployed(CONFIG.slice(0, CONFIG.indexOf('access:')));
    const host = `tokens:\n  - name: ci-app\n    sha256: ${'a'.repeat(64)}\n    repositories: ["app/**"]\n    actions: [read]\n`;
    const kept = renderDeploymentFiles(s, { ...opts, htpasswd: undefined, ciTokens: tokensFileForUpgrade(Buffer.from(host)) }).files;
    assert.equal(kept.find((f) => f.path.endsWith('/auth/tokens.yaml'))?.content, host);
    const added = renderDeploymentFiles(s, { ...opts, htpasswd: undefined, ciTokens: tokensFileForUpgrade(null) }).files;
    assert.equal(added.find((f) => f.path.endsWith('/auth/tokens.yaml'))?.content, EMPTY_TOKENS_FILE);
    assert.match(added.find((f) => f.path.endsWith('/compose.yaml'))!.content as string, /REGISTRY_AUTH_TOKENS_PATH: \/etc\/registry-setup\/auth\/tokens.yaml/);
  });

  test('deploy refuses a policy that would make its own check fail (the deploy user on registry-setup/check)', async () => {
    const s = await deployed();
    assert.deepEqual(deployCheckDenied(s.access!, 'admin'), []);
    assert.deepEqual(deployCheckDenied(s.access!, 'web1'), ['read', 'create', 'update', 'delete']);
    const readOnly = await deployed(CONFIG.replace('    users: [admin]\n    actions: [read, create, update, delete]', '    users: [admin]\n    actions: [read]'));
    assert.deepEqual(deployCheckDenied(readOnly.access!, 'admin'), ['create', 'update', 'delete']);
  });
});
