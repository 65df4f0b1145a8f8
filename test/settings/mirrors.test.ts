// `mirrors:` of registry-setup.yaml and what deploy makes of it: the parser (messages name the key),
// the compose variables and mount, the 0600 credentials files, the registry's recreation when they
// change, the removal of a dropped mirror's file, and the warning about pushed repositories.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { clashWarnings, pushedUnderPrefixArgv } from '../../src/deploy/mirror-clash.js';
import { renderDeploymentFiles, startPlan, type ContainerFact } from '../../src/provision/index.js';
import { pruneMirrorCredentialsArgv } from '../../src/provision/mirrors.js';
import { mirrorsOfConfigFile, readMirrorCredentialFiles, withoutEmptyMirrors } from '../../src/settings/mirrors.js';
import { completeSettings, loadConfigFile, renderConfigFile, type PartialSettings } from '../../src/settings/resolve.js';
import type { DeploySettings } from '../../src/settings/settings.js';
import { buildCompose } from '../../src/templates/render.js';
import { TempDirs } from '../helpers/tmp.js';
import { DEPLOY_SETTINGS } from '../provision/settings-fixture.js';

const tmp = new TempDirs();
after(() => tmp.cleanup());

async function configFile(text: string): Promise<string> {
  const file = join(await tmp.make('rs-mirrors-'), 'registry-setup.yaml');
  await writeFile(file, text);
  return file;
}

const base = 'target: root@203.0.113.10\ndomain: registry.example.com\nuser: admin\ntls: self-signed\n';

describe('mirrors: in registry-setup.yaml', () => {
  test('PREFIX=URL strings and mappings, as serve accepts them', async () => {
    const file = await configFile(
      `${base}mirrorTagTtl: 10m\nmirrors:\n  - ghcr.io=https://ghcr.io\n  - { prefix: docker.io, url: "https://registry-1.docker.io/", credentials: ./hub.cred, default: true }\n`,
    );
    const s = await loadConfigFile(file);
    assert.deepEqual(s.mirrors, [
      { prefix: 'ghcr.io', url: 'https://ghcr.io' },
      { prefix: 'docker.io', url: 'https://registry-1.docker.io', credentials: './hub.cred', default: true },
    ]);
    assert.equal(s.mirrorTagTtl, '10m');
    // written back by deploy and read again unchanged
    const again = await loadConfigFile(await configFile(renderConfigFile(completeSettings(s))));
    assert.deepEqual(again.mirrors, s.mirrors);
  });

  const cases: [string, RegExp][] = [
    ['mirrors: docker.io=https://registry-1.docker.io', /: mirrors must be a list of PREFIX=URL entries/],
    ['mirrors:\n  - ghcr.io=https://ghcr.io\n  - docker.io', /: mirrors\[1\]: "docker.io" is not PREFIX=URL/],
    ['mirrors:\n  - Docker.IO=https://registry-1.docker.io', /: mirrors\[0\]: "Docker.IO" is not a repository name prefix/],
    ['mirrors:\n  - docker.io=ftp://x', /: mirrors\[0\]: ftp:\/\/x: the upstream must be https:\/\//],
    ['mirrors:\n  - docker.io=https://u:p@registry-1.docker.io', /: mirrors\[0\]: put upstream credentials in a file/],
    ['mirrors:\n  - { prefix: docker.io }', /: mirrors\[0\]\.url must be a string/],
    ['mirrors:\n  - { prefix: docker.io, url: "https://r", ttl: 5m }', /: mirrors\[0\]: unknown key "ttl" \(known: prefix, url, credentials, default\)/],
    ['mirrors:\n  - { prefix: docker.io, url: "https://r", default: "yes" }', /: mirrors\[0\]\.default must be true or false/],
    ['mirrors:\n  - a=https://a\n  - a/b=https://b', /: mirrors: the prefixes "a" and "a\/b" overlap/],
    ['mirrors:\n  - { prefix: a, url: "https://a", default: true }\n  - { prefix: b, url: "https://b", default: true }', /: mirrors: only one mirror can be the default \(a, b are\)/],
    // valid URLs that would change compose.yaml's REGISTRY_MIRRORS list or be interpolated by compose
    ['mirrors:\n  - docker.io=https://a$b.example.com', /: mirrors\[0\]: https:\/\/a\$b\.example\.com must not contain spaces, commas or '\$'/],
    ['mirrors:\n  - { prefix: docker.io, url: "https://a,b.example.com" }', /: mirrors\[0\]: https:\/\/a,b\.example\.com must not contain/],
    ['mirrorTagTtl: 5 minutes', /: mirrorTagTtl: "5 minutes" is not a duration like 5m/],
  ];
  for (const [yaml, message] of cases) {
    test(`refuses ${JSON.stringify(yaml)} naming the key`, async () => {
      const file = await configFile(`${base}${yaml}\n`);
      await assert.rejects(loadConfigFile(file), (err: Error) => {
        assert.match(err.message, message);
        assert.ok(err.message.startsWith(file), err.message);
        return true;
      });
    });
  }

  test('with --config the file is the whole list: no mirrors: turns mirroring off, and [] is not saved', () => {
    const none: PartialSettings = { domain: 'd' };
    assert.deepEqual(mirrorsOfConfigFile(none), { domain: 'd', mirrors: [] });
    const listed: PartialSettings = { mirrors: [{ prefix: 'a', url: 'https://a' }] };
    assert.equal(mirrorsOfConfigFile(listed), listed);
    assert.deepEqual(withoutEmptyMirrors<PartialSettings>({ domain: 'd', mirrors: [] }), { domain: 'd' });
    assert.equal(withoutEmptyMirrors(listed), listed);
  });
});

const settings: DeploySettings = { ...DEPLOY_SETTINGS, target: 'root@203.0.113.10' };
const mirrors = [
  { prefix: 'docker.io', url: 'https://registry-1.docker.io', credentials: '/home/me/hub.cred', default: true },
  { prefix: 'ghcr.io', url: 'https://ghcr.io' },
  { prefix: 'team/quay', url: 'https://quay.io', credentials: '/home/me/quay.cred' },
];
const CREDENTIALS = new Map([
  ['docker.io', 'username = hubuser\npassword = hub-secret-1\n'],
  ['team/quay', 'username = quayuser\npassword = quay-secret-2\n'],
]);
const render = (s: DeploySettings) => renderDeploymentFiles(s, { version: '0.1.0', registryPayload: [{ path: 'registry.mjs', content: 'x' }], htpasswd: 'admin:$2y$10$abc\n', mirrorCredentials: CREDENTIALS });

describe('deploying mirrors', () => {
  test('compose passes the variables and mounts the credentials directory, never their content', () => {
    const text = buildCompose({ ...settings, mirrors, mirrorTagTtl: '10m' }, { version: '0.1.0', auth: true });
    const registry = (parse(text) as { services: { registry: { environment: Record<string, string>; volumes: string[] } } }).services.registry;
    assert.equal(registry.environment.REGISTRY_MIRRORS, 'docker.io=https://registry-1.docker.io,ghcr.io=https://ghcr.io,team/quay=https://quay.io');
    assert.equal(registry.environment.REGISTRY_MIRRORS_CREDENTIALS, 'docker.io=/etc/registry-setup/mirror-credentials/docker.io,team/quay=/etc/registry-setup/mirror-credentials/team+quay');
    assert.equal(registry.environment.REGISTRY_MIRRORS_DEFAULT, 'docker.io');
    assert.equal(registry.environment.REGISTRY_MIRRORS_TAGTTL, '10m');
    assert.ok(registry.volumes.includes('./mirror-credentials:/etc/registry-setup/mirror-credentials:ro'), registry.volumes.join(' '));
    assert.doesNotMatch(text, /hub-secret|hubuser|hub\.cred/);

    const plain = parse(buildCompose(settings, { version: '0.1.0', auth: true })) as { services: { registry: { environment: Record<string, string>; volumes: string[] } } };
    assert.deepEqual(Object.keys(plain.services.registry.environment).filter((k) => k.startsWith('REGISTRY_MIRRORS')), []);
    assert.ok(!plain.services.registry.volumes.some((v) => v.includes('mirror-credentials')));
    const noCredentials = parse(buildCompose({ ...settings, mirrors: [mirrors[1]!] }, { version: '0.1.0', auth: true })) as typeof plain;
    assert.equal(noCredentials.services.registry.environment.REGISTRY_MIRRORS_CREDENTIALS, undefined);
    assert.ok(!noCredentials.services.registry.volumes.some((v) => v.includes('mirror-credentials')));
  });

  test('credentials files: 0600, the registry uid, secret, one per mirror that has them; none without', () => {
    const { files, directories } = render({ ...settings, mirrors });
    const mine = files.filter((f) => f.path.includes('/mirror-credentials/'));
    assert.deepEqual(
      mine.map((f) => `${f.path} ${f.mode.toString(8)} ${f.owner}:${f.group}${f.sensitive ? ' sensitive' : ''}`),
      ['/opt/registry-setup/mirror-credentials/docker.io 600 1000:1000 sensitive', '/opt/registry-setup/mirror-credentials/team+quay 600 1000:1000 sensitive'],
    );
    assert.equal(mine[0]!.content, CREDENTIALS.get('docker.io'));
    assert.ok(directories.some((d) => d.path === '/opt/registry-setup/mirror-credentials' && d.mode === 0o700 && d.owner === 1000));
    const record = files.find((f) => f.path.endsWith('registry-setup.json'))!.content.toString();
    assert.doesNotMatch(record, /hub-secret|quay-secret|hubuser/);
    const none = render(settings);
    assert.ok(!none.files.some((f) => f.path.includes('mirror-credentials')) && !none.directories.some((d) => d.path.includes('mirror-credentials')));
    const payload = [{ path: 'registry.mjs', content: 'x' }];
    assert.throws(() => renderDeploymentFiles({ ...settings, mirrors }, { version: '0.1.0', registryPayload: payload, mirrorCredentials: new Map() }), /credentials of the mirror docker\.io were not read/);
    // upgrade renders without them: the host's files stay
    assert.ok(!renderDeploymentFiles({ ...settings, mirrors }, { version: '0.1.0', registryPayload: payload }).files.some((f) => f.path.includes('mirror-credentials')));
  });

  test('a changed credentials file recreates the running registry (it reads them at start)', () => {
    const target = { kind: 'v2' as const, dir: '/opt/registry-setup' };
    const containers: ContainerFact[] = [
      { service: 'registry', state: 'running', image: 'registry-setup/registry:0.1.0' },
      { service: 'nginx', state: 'running', image: 'nginx:1.27-alpine' },
    ];
    const plan = startPlan({ target, version: '0.1.0', composeInstalled: true, changedFiles: ['/opt/registry-setup/mirror-credentials/docker.io'], containers, imagePresent: true });
    assert.equal(plan.recreate, true);
    assert.ok(plan.commands.some((c) => c.includes('--force-recreate')));
    const other = startPlan({ target, version: '0.1.0', composeInstalled: true, changedFiles: [], containers, imagePresent: true });
    assert.equal(other.recreate, false);
  });

  test("a dropped mirror's credentials file is removed, the others kept", async () => {
    const dir = await tmp.make('rs-mirrors-host-');
    const creds = join(dir, 'mirror-credentials');
    await mkdir(creds);
    for (const f of ['docker.io', 'team+quay', 'gone.example']) await writeFile(join(creds, f), 'x');
    const argv = pruneMirrorCredentialsArgv({ dir, mirrors });
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((await readdir(creds)).sort(), ['docker.io', 'team+quay']);
    const none = pruneMirrorCredentialsArgv({ dir, mirrors: undefined });
    assert.equal(spawnSync(none[0]!, none.slice(1)).status, 0);
    assert.deepEqual(await readdir(creds), []);
  });

  test('local credentials files: checked by the payload reader (0600, both lines) and normalized', async () => {
    const dir = await tmp.make('rs-mirrors-cred-');
    const good = join(dir, 'hub');
    await writeFile(good, '# Docker Hub\nusername: hubuser\npassword =  s3cret \n', { mode: 0o600 });
    assert.deepEqual(readMirrorCredentialFiles([{ prefix: 'docker.io', url: 'https://r', credentials: good }, { prefix: 'ghcr.io', url: 'https://ghcr.io' }]), new Map([['docker.io', 'username = hubuser\npassword = s3cret\n']]));
    await chmod(good, 0o644);
    assert.throws(() => readMirrorCredentialFiles([{ prefix: 'docker.io', url: 'https://r', credentials: good }]), /docker\.io: credentials: .*hub is readable by other users; chmod 600 it/);
    assert.throws(() => readMirrorCredentialFiles([{ prefix: 'docker.io', url: 'https://r', credentials: join(dir, 'missing') }]), /cannot read .*missing: ENOENT/);
  });

  test('a new prefix over pushed repositories is warned about, naming them', async () => {
    const data = await tmp.make('rs-mirrors-data-');
    const repos = join(data, 'docker/registry/v2/repositories');
    for (const name of ['docker.io/team/app', 'docker.io/tool', 'ours/app']) await mkdir(join(repos, name, '_manifests/tags'), { recursive: true });
    await mkdir(join(repos, 'docker.io/tool/_layers/sha256/ab/_manifests'), { recursive: true }); // never a repository
    const argv = pushedUnderPrefixArgv(data, ['docker.io', 'ghcr.io', 'ours']);
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const warnings = clashWarnings(r.stdout);
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[0]!, /^the new mirror prefix docker\.io\/ covers pushed repositories \((docker\.io\/team\/app, docker\.io\/tool|docker\.io\/tool, docker\.io\/team\/app)\): .*pushes to them are refused/);
    assert.match(warnings[1]!, /^the new mirror prefix ours\/ covers pushed repositories \(ours\/app\)/);
  });
});
