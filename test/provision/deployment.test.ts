// The deployment's files (paths, modes, owners, byte-stability), its steps, and the self-signed TLS
// step, whose openssl argv and check are run here for real.
import assert from 'node:assert/strict';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import type { DeploySettings } from '../../src/settings/settings.js';
import {
  installDirArgv,
  installFileArgv,
  isBuildInput,
  isPayloadFile,
  prunePayloadArgv,
  renderDeploymentFiles,
  selfSignedCheckArgv,
  selfSignedOpensslArgv,
  selfSignedTlsStep,
  subjectAltName,
  tlsPaths,
  type RenderDeploymentOptions,
} from '../../src/provision/index.js';
import { run } from '../helpers/exec.js';
import { TempDirs } from '../helpers/tmp.js';
import { DEPLOY_SETTINGS, HTPASSWD } from './settings-fixture.js';

const tmp = new TempDirs();
after(() => tmp.cleanup());

const settings: DeploySettings = { ...DEPLOY_SETTINGS, email: 'ops@example.com' };
const PAYLOAD = [
  { path: 'registry.mjs', content: Buffer.from('import("./chunks/s3-AB12.mjs")\n') },
  { path: 'chunks/s3-AB12.mjs', content: Buffer.from('export const s3 = 1;\n') },
];
const opts: RenderDeploymentOptions = { version: '0.1.0', registryPayload: PAYLOAD, htpasswd: HTPASSWD };

describe('renderDeploymentFiles', () => {
  test('the files, their modes and owners', () => {
    const { files, directories } = renderDeploymentFiles(settings, opts);
    assert.deepEqual(
      files.map((f) => `${f.path} ${f.mode.toString(8)} ${f.owner ?? 0}:${f.group ?? 0}${f.sensitive ? ' sensitive' : ''}`),
      [
        '/opt/registry-setup/compose.yaml 644 0:0',
        '/opt/registry-setup/nginx/nginx.conf 644 0:0',
        '/opt/registry-setup/build/Dockerfile 644 0:0',
        '/opt/registry-setup/build/.dockerignore 644 0:0',
        '/opt/registry-setup/build/registry/registry.mjs 644 0:0',
        '/opt/registry-setup/build/registry/chunks/s3-AB12.mjs 644 0:0',
        '/opt/registry-setup/registry-setup.json 644 0:0',
        '/opt/registry-setup/auth/htpasswd 600 1000:1000 sensitive',
      ],
    );
    assert.ok(!files.some((f) => f.path.includes('/tls/')), 'no TLS files: they come from the TLS step');
    assert.deepEqual(directories.map(installDirArgv), [
      ['install', '-d', '-m', '0755', '-o', '0', '-g', '0', '/opt/registry-setup'],
      ['install', '-d', '-m', '0755', '-o', '0', '-g', '0', '/opt/registry-setup/nginx'],
      ['install', '-d', '-m', '0755', '-o', '0', '-g', '0', '/opt/registry-setup/auth'],
      ['install', '-d', '-m', '0755', '-o', '0', '-g', '0', '/opt/registry-setup/tls'],
      ['install', '-d', '-m', '0755', '-o', '0', '-g', '0', '/opt/registry-setup/build'],
      ['install', '-d', '-m', '0755', '-o', '0', '-g', '0', '/opt/registry-setup/build/registry'],
      ['install', '-d', '-m', '0755', '-o', '0', '-g', '0', '/opt/registry-setup/build/registry/chunks'],
      ['install', '-d', '-m', '0755', '-o', '0', '-g', '0', '/opt/registry-setup/webroot'],
      ['install', '-d', '-m', '0755', '-o', '0', '-g', '0', '/opt/registry-setup/webroot/.well-known'],
      ['install', '-d', '-m', '0755', '-o', '0', '-g', '0', '/opt/registry-setup/webroot/.well-known/acme-challenge'],
      ['install', '-d', '-m', '0755', '-o', '1000', '-g', '1000', '/opt/registry-setup/state'],
      ['install', '-d', '-m', '0750', '-o', '1000', '-g', '1000', '/srv/registry'],
    ]);
    assert.deepEqual(installFileArgv('/tmp/x', files.at(-1)!), ['install', '-m', '0600', '-o', '1000', '-g', '1000', '/tmp/x', '/opt/registry-setup/auth/htpasswd']);
  });

  test('the same inputs give the same bytes', () => {
    const a = renderDeploymentFiles(settings, opts);
    const b = renderDeploymentFiles({ ...settings }, { ...opts, registryPayload: PAYLOAD.map((f) => ({ ...f, content: Buffer.from(f.content) })) });
    assert.equal(a.files.length, b.files.length);
    for (let i = 0; i < a.files.length; i += 1) {
      assert.ok(Buffer.from(a.files[i]!.content).equals(Buffer.from(b.files[i]!.content)), a.files[i]!.path);
    }
    // key order of the settings object does not matter either
    const reversed = Object.fromEntries(Object.entries(settings).reverse()) as unknown as DeploySettings;
    const c = renderDeploymentFiles(reversed, opts);
    assert.equal(c.files.find((f) => f.path.endsWith('registry-setup.json'))!.content, a.files.find((f) => f.path.endsWith('registry-setup.json'))!.content);
  });

  test('registry-setup.json: settings as deployed, the version, no timestamps', () => {
    const json = JSON.parse(String(renderDeploymentFiles(settings, opts).files.find((f) => f.path.endsWith('registry-setup.json'))!.content));
    assert.deepEqual(json, { registrySetupVersion: '0.1.0', nginxMode: 'https', settings: { ...settings } });
    assert.deepEqual(Object.keys(json.settings), Object.keys(settings).sort());
  });

  test('the payload is passed through untouched, and only a plain payload with its entry is accepted', () => {
    const bundle = Buffer.from([0xef, 0xbb, 0xbf, 0x41, 0x0a]);
    const f = renderDeploymentFiles(settings, { ...opts, registryPayload: [{ path: 'registry.mjs', content: bundle }] }).files.find((x) => x.path.endsWith('/registry.mjs'))!;
    assert.equal(f.content, bundle);
    assert.throws(() => renderDeploymentFiles(settings, { ...opts, registryPayload: PAYLOAD.slice(1) }), /no registry\.mjs/);
    for (const bad of ['../evil.mjs', '/abs.mjs', 'chunks/../../x', 'a b.mjs', 'chunks//x.mjs']) {
      assert.throws(() => renderDeploymentFiles(settings, { ...opts, registryPayload: [...PAYLOAD, { path: bad, content: '' }] }), /unexpected file in the registry payload/, bad);
    }
  });

  test('build inputs and the pruning of files an older payload left behind', async () => {
    assert.equal(isBuildInput('/opt/registry-setup', '/opt/registry-setup/build/registry/chunks/s3-AB12.mjs'), true);
    assert.equal(isBuildInput('/opt/registry-setup', '/opt/registry-setup/build/Dockerfile'), true);
    assert.equal(isBuildInput('/opt/registry-setup', '/opt/registry-setup/compose.yaml'), false);
    assert.equal(isBuildInput('/opt/registry-setup', '/opt/registry-setup/buildx'), false);
    assert.equal(isPayloadFile('/opt/registry-setup', '/opt/registry-setup/build/registry/registry.mjs'), true);
    assert.equal(isPayloadFile('/opt/registry-setup', '/opt/registry-setup/build/Dockerfile'), false);
    // the prune command, run here on a directory like the host's
    const dir = await tmp.make('rs-payload-');
    const payloadDir = join(dir, 'build/registry');
    await mkdir(join(payloadDir, 'chunks'), { recursive: true });
    for (const rel of ['registry.mjs', 'chunks/s3-AB12.mjs', 'chunks/s3-OLD1.mjs', 'chunks/gc-OLD2.mjs']) await writeFile(join(payloadDir, rel), 'x');
    const argv = prunePayloadArgv(dir, PAYLOAD);
    const r = await run(argv[0]!, argv.slice(1), { allowFailure: true });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(payloadDir, { recursive: true })).sort(), ['chunks', 'chunks/s3-AB12.mjs', 'registry.mjs']);
    // nothing to prune on a first deploy that has no payload directory yet
    const fresh = prunePayloadArgv(join(dir, 'nowhere'), PAYLOAD);
    assert.equal((await run(fresh[0]!, fresh.slice(1), { allowFailure: true })).code, 0);
  });

  test('compose.yaml and nginx.conf follow the settings', () => {
    const files = renderDeploymentFiles({ ...settings, httpPort: 8080, httpsPort: 8443 }, { ...opts, nginxMode: 'http-only' }).files;
    const compose = parse(String(files[0]!.content));
    assert.deepEqual(compose.services.nginx.ports, ['8080:8080', '8443:8443']);
    assert.equal(compose.services.registry.image, 'registry-setup/registry:0.1.0');
    assert.match(String(files[1]!.content), /return 503/);
  });

  test('an open registry only when asked with htpasswd: null', () => {
    const { files } = renderDeploymentFiles(settings, { ...opts, htpasswd: null });
    assert.ok(!files.some((f) => f.path.endsWith('htpasswd')));
    assert.equal(parse(String(files[0]!.content)).services.registry.environment.REGISTRY_AUTH, undefined);
    assert.throws(() => renderDeploymentFiles(settings, { ...opts, htpasswd: 'nonsense' }), /no "user:hash" line/);
  });

  test('secrets: the upload secret always, the S3 credentials and CA with a bucket; no data directory then', () => {
    const secret = 'u'.repeat(43);
    const creds = 'access_key_id = AK\nsecret_access_key = SK\n';
    const filesystem = renderDeploymentFiles(settings, { ...opts, uploadSecret: secret, s3Credentials: creds });
    const line = (f: { path: string; mode: number; owner?: number | string; group?: number | string; sensitive?: boolean }) => `${f.path} ${f.mode.toString(8)} ${f.owner ?? 0}:${f.group ?? 0}${f.sensitive ? ' sensitive' : ''}`;
    assert.deepEqual(filesystem.files.slice(-1).map(line), ['/opt/registry-setup/upload-secret 600 1000:1000 sensitive'], 'no credentials without a bucket');
    assert.equal(filesystem.files.at(-1)!.content, `${secret}\n`);
    assert.ok(filesystem.directories.some((d) => d.path === '/srv/registry'));

    const bucket = { ...settings, storage: 's3://images/team?endpoint=https://s3.internal&ca=/home/me/ca.pem' };
    const s3 = renderDeploymentFiles(bucket, { ...opts, uploadSecret: secret, s3Credentials: creds, s3Ca: 'PEM' });
    assert.deepEqual(s3.files.slice(-3).map(line), [
      '/opt/registry-setup/upload-secret 600 1000:1000 sensitive',
      '/opt/registry-setup/s3-credentials 600 1000:1000 sensitive',
      '/opt/registry-setup/s3-ca.pem 644 0:0',
    ]);
    assert.equal(s3.files.find((f) => f.path.endsWith('s3-credentials'))!.content, creds);
    assert.ok(!s3.directories.some((d) => d.path === '/srv/registry'), 'no data directory with a bucket');
    const compose = parse(String(s3.files[0]!.content));
    assert.equal(compose.services.registry.environment.REGISTRY_STORAGE_URL, 's3://images/team?endpoint=https://s3.internal&ca=/etc/registry-setup/s3-ca.pem');
    // registry-setup.json records the URL as given (never credentials: they are not settings)
    const record = JSON.parse(String(s3.files.find((f) => f.path.endsWith('registry-setup.json'))!.content));
    assert.equal(record.settings.storage, bucket.storage);
    assert.ok(!JSON.stringify(record).includes('SK'));
    assert.throws(() => renderDeploymentFiles(settings, { ...opts, uploadSecret: 'short' }), /32 or more characters/);
  });

  test('refuses a relative install directory', () => {
    assert.throws(() => renderDeploymentFiles({ ...settings, dir: 'registry' }, opts), /absolute path/);
  });
});

describe('self-signed TLS', () => {
  test('argv', () => {
    const step = selfSignedTlsStep(settings);
    assert.deepEqual(step.commands, [
      ['install', '-m', '0600', '-o', '101', '-g', '101', '/dev/null', '/opt/registry-setup/tls/privkey.pem'],
      [
        'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '825',
        '-subj', '/CN=registry.example.com', '-addext', 'subjectAltName=DNS:registry.example.com',
        '-keyout', '/opt/registry-setup/tls/privkey.pem', '-out', '/opt/registry-setup/tls/fullchain.pem',
      ],
      ['chown', '101:101', '/opt/registry-setup/tls/privkey.pem'],
      ['chmod', '0600', '/opt/registry-setup/tls/privkey.pem'],
      ['chmod', '0644', '/opt/registry-setup/tls/fullchain.pem'],
    ]);
    assert.equal(step.needsSudo, true);
    assert.equal(subjectAltName('192.0.2.7'), 'IP:192.0.2.7');
  });

  test('the step runs here: check fails before, passes after, fails for another name', { skip: process.getuid?.() !== 0 ? 'needs root (chown 101)' : false }, async () => {
    for (const domain of ['registry.example.com', '192.0.2.7']) {
      const dir = await tmp.make('rs-tls-');
      const step = selfSignedTlsStep({ domain, dir });
      await mkdir(tlsPaths(dir).dir); // the directories step's part
      const exec = (argv: string[]) => run(argv[0]!, argv.slice(1), { allowFailure: true, timeoutMs: 60_000 });
      assert.equal((await exec(step.check!)).code, 1, 'check before');
      for (const argv of step.commands) {
        const r = await exec(argv);
        assert.equal(r.code, 0, `${argv.join(' ')}\n${r.stderr}`);
      }
      assert.equal((await exec(step.check!)).code, 0, 'check after');
      const paths = tlsPaths(dir);
      const key = await stat(paths.privateKey);
      assert.equal(key.mode & 0o777, 0o600);
      assert.equal(key.uid, 101);
      assert.equal((await stat(paths.certificate)).mode & 0o777, 0o644);
      const other = selfSignedCheckArgv(domain === '192.0.2.7' ? '192.0.2.8' : 'other.example.com', paths);
      assert.equal((await exec(other)).code, 1, 'check for another name');
      // a certificate about to expire is re-issued
      const short = selfSignedOpensslArgv(domain, { certificate: join(dir, 'short.pem'), privateKey: join(dir, 'short.key') }, 1);
      assert.equal((await exec(short)).code, 0);
      assert.equal((await exec(selfSignedCheckArgv(domain, { certificate: join(dir, 'short.pem'), privateKey: join(dir, 'short.key') }))).code, 1);
    }
  });
});
