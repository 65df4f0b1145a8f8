import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import {
  checkHostList,
  completeSettings,
  hostLayers,
  loadConfigFile,
  mergeSettings,
  planHosts,
  renderConfigFile,
  SettingsError,
  shareSettings,
} from '../../src/settings/resolve.js';
import { HtpasswdFile, generatePassword, hashPassword } from '../../src/users/credentials.js';
import { parseHtpasswd } from '../../src/registry/auth/htpasswd.js';

describe('settings', () => {
  it('flags win over the config file, which wins over the host record and defaults', () => {
    const merged = mergeSettings([{ domain: 'flag.example.com' }, { domain: 'file.example.com', user: 'fileuser' }, { user: 'hostuser', httpPort: 8080 }]);
    assert.deepEqual(merged, { domain: 'flag.example.com', user: 'fileuser', httpPort: 8080 });
    const s = completeSettings({ ...merged, target: 'root@h', tls: 'self-signed' });
    assert.equal(s.httpsPort, 443);
    assert.equal(s.dir, '/opt/registry-setup');
    assert.equal(s.dataDir, '/opt/registry-setup/data');
  });

  it('reports every missing answer with the flag that gives it', () => {
    assert.throws(() => completeSettings({ target: 'h' }), (e: Error) => e instanceof SettingsError && /--domain.*--user.*--email/.test(e.message));
    assert.throws(() => completeSettings({ target: 'h', domain: 'bad_domain', user: 'u', tls: 'self-signed' }), /not a host name/);
    assert.throws(() => completeSettings({ target: 'h', domain: 'a.b', user: 'u', tls: 'custom' }), /--cert and --key/);
    assert.throws(() => completeSettings({ target: 'h', domain: 'a.b', user: 'u', tls: 'self-signed', dir: 'rel' }), /absolute/);
    assert.throws(() => completeSettings({ target: 'h', domain: 'a.b', user: 'u', tls: 'self-signed', dir: '/srv/my registry' }), /must not contain whitespace/);
    assert.throws(() => completeSettings({ target: 'h', domain: 'a.b', user: 'u', tls: 'self-signed', dataDir: '/srv/a:b' }), /must not contain whitespace, ':'/);
  });

  it('round-trips registry-setup.yaml and refuses unknown keys', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-cfg-'));
    try {
      const s = completeSettings({ target: 'root@h', domain: 'r.example.com', user: 'admin', email: 'a@example.com' });
      writeFileSync(path.join(dir, 'a.yaml'), renderConfigFile(s));
      assert.deepEqual(await loadConfigFile(path.join(dir, 'a.yaml')), s);
      writeFileSync(path.join(dir, 'b.yaml'), 'domian: typo.example.com\n');
      await assert.rejects(loadConfigFile(path.join(dir, 'b.yaml')), /unknown setting "domian"/);
      writeFileSync(path.join(dir, 'c.yaml'), 'httpPort: "80"\n');
      await assert.rejects(loadConfigFile(path.join(dir, 'c.yaml')), /httpPort must be a port number/);
      await assert.rejects(loadConfigFile(path.join(dir, 'missing.yaml')), /cannot read config file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('several hosts', () => {
  const STORAGE = 's3://images/team?endpoint=http://172.17.0.1:7480&path-style=true';
  const common = { domain: 'r.example.com', user: 'admin', tls: 'self-signed' as const, storage: STORAGE };

  it('reads hosts: from the config file, as targets or with per-host settings, and refuses the rest', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-hosts-'));
    try {
      const file = path.join(dir, 'registry-setup.yaml');
      writeFileSync(
        file,
        [
          'domain: r.example.com', 'user: admin', 'tls: self-signed', `storage: "${STORAGE}"`, 'httpsPort: 8443',
          'hosts:', '  - target: root@127.0.0.1:2222', '    dir: /opt/a', '    httpPort: 8081', '    httpsPort: 8441', '    composeProject: rs-a',
          '  - root@b.example.com', '',
        ].join('\n'),
      );
      const cfg = await loadConfigFile(file);
      assert.deepEqual(cfg.hosts, [{ target: 'root@127.0.0.1:2222', dir: '/opt/a', httpPort: 8081, httpsPort: 8441, composeProject: 'rs-a' }, { target: 'root@b.example.com' }]);
      for (const [text, error] of [
        ['target: root@a\nhosts: [root@b]\n', /either target or hosts/],
        ['hosts: []\n', /hosts must be a list/],
        ['hosts:\n  - { target: root@a, domain: other.example.com }\n', /hosts\[0\]: "domain" cannot differ between hosts/],
        ['hosts:\n  - { dir: /opt/a }\n', /hosts\[0\]: no target/],
        ['hosts:\n  - { target: root@a, httpPort: "80" }\n', /hosts\[0\]: httpPort must be a port number/],
      ] as const) {
        writeFileSync(file, text);
        await assert.rejects(loadConfigFile(file), error, text);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('per host: flags > its hosts entry > the file; targets on the command line pick up their entries', () => {
    const file = { ...common, httpsPort: 8443, hosts: [{ target: 'root@a', dir: '/opt/a', httpsPort: 8441 }, { target: 'root@b' }] };
    assert.deepEqual(planHosts([], file), file.hosts);
    assert.deepEqual(planHosts(['root@b', 'root@c'], file), [{ target: 'root@b' }, { target: 'root@c' }]);
    assert.deepEqual(planHosts(['root@a'], file), [{ target: 'root@a', dir: '/opt/a', httpsPort: 8441 }]);
    assert.deepEqual(planHosts([], { target: 'root@only' }), [{ target: 'root@only' }]);
    assert.deepEqual(planHosts([], {}), []);
    const [a, b] = planHosts([], file).map((e) => hostLayers({ user: 'flaguser' }, e, file));
    assert.deepEqual(a, { ...common, user: 'flaguser', target: 'root@a', dir: '/opt/a', httpsPort: 8441 });
    assert.deepEqual(b, { ...common, user: 'flaguser', target: 'root@b', httpsPort: 8443 });
    // a flag wins over the per-host entry too
    assert.equal(hostLayers({ httpsPort: 9443 }, file.hosts[0]!, file).httpsPort, 9443);
  });

  it('the shared settings come from the first host, the per-host ones stay', () => {
    const shared = shareSettings([
      { target: 'root@a', domain: 'a.example.com', dir: '/opt/a', ui: false },
      { target: 'root@b', domain: 'b.example.com', dir: '/opt/b', email: 'stale@example.com' },
    ]);
    assert.deepEqual(shared[1], { target: 'root@b', domain: 'a.example.com', dir: '/opt/b', ui: false });
  });

  it('several hosts need a bucket, and two deployments on one machine their own dir, project and ports', () => {
    const host = (o: Record<string, unknown>) => completeSettings({ ...common, target: 'root@127.0.0.1:2222', ...o });
    const a = host({ dir: '/opt/a', composeProject: 'rs-a', httpPort: 8081, httpsPort: 8441 });
    const b = host({ dir: '/opt/b', composeProject: 'rs-b', httpPort: 8082, httpsPort: 8442 });
    checkHostList([a, b]);
    checkHostList([{ ...a, storage: undefined }]);
    assert.throws(() => checkHostList([{ ...a, storage: undefined }, { ...b, storage: undefined }]), /2 hosts need a shared S3-compatible bucket.*--storage s3:\/\//);
    assert.throws(() => checkHostList([a, { ...b, dir: '/opt/a' }]), /listed twice with the same install directory/);
    assert.throws(() => checkHostList([a, { ...b, composeProject: 'rs-a' }]), /same compose project/);
    assert.throws(() => checkHostList([a, { ...b, httpsPort: 8081 }]), /same port/);
    checkHostList([a, { ...b, target: 'root@other', dir: '/opt/a', composeProject: 'rs-a', httpPort: 8081, httpsPort: 8441 }]);
  });

  it('checks the storage URL, the compose project and the publish address', () => {
    const base = { ...common, target: 'root@a' };
    assert.equal(completeSettings(base).storage, STORAGE);
    assert.throws(() => completeSettings({ ...base, storage: '/srv/data' }), /not a URL like s3:/);
    assert.throws(() => completeSettings({ ...base, storage: 'https://images' }), /only s3:\/\/ URLs/);
    assert.throws(() => completeSettings({ ...base, storage: 's3://AK:SK@images' }), /never in the URL/);
    assert.throws(() => completeSettings({ ...base, storage: 's3://images?endpoit=x' }), /unknown option "endpoit"/);
    assert.throws(() => completeSettings({ ...base, composeProject: 'Bad Name' }), /compose project name/);
    assert.throws(() => completeSettings({ ...base, publishAddress: 'localhost' }), /publish address/);
    assert.equal(completeSettings({ ...base, publishAddress: '127.0.0.1' }).publishAddress, '127.0.0.1');
  });

  it('registry-setup.yaml of several hosts: shared settings once, what differs per host, and back', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-cfg-multi-'));
    try {
      const a = completeSettings({ ...common, target: 'root@127.0.0.1:2222', dir: '/opt/a', composeProject: 'rs-a', httpPort: 8081, httpsPort: 8441, publishAddress: '127.0.0.1' });
      const b = completeSettings({ ...common, target: 'root@127.0.0.1:2222', dir: '/opt/b', composeProject: 'rs-b', httpPort: 8082, httpsPort: 8442, publishAddress: '127.0.0.1' });
      const c = completeSettings({ ...common, target: 'root@c.example.com', dir: '/opt/a', composeProject: 'rs-a', httpPort: 8081, httpsPort: 8441, publishAddress: '127.0.0.1' });
      const text = renderConfigFile([a, b, c]);
      assert.match(text, /^storage: .*endpoint=http:\/\/172\.17\.0\.1:7480/m);
      assert.match(text, /^publishAddress: 127\.0\.0\.1$/m, 'the same everywhere: said once');
      assert.doesNotMatch(text, /dataDir/, 'the default data directories are not written');
      const file = path.join(dir, 'multi.yaml');
      writeFileSync(file, text);
      const back = await loadConfigFile(file);
      const again = planHosts([], back).map((e) => completeSettings(hostLayers({}, e, back)));
      assert.deepEqual(again, [a, b, c]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('credentials', () => {
  it('generates passwords of at least 128 bits', () => {
    const p = generatePassword();
    assert.ok(Buffer.from(p, 'base64url').length * 8 >= 128);
    assert.notEqual(p, generatePassword());
  });

  it('writes $2y$ bcrypt hashes the registry accepts, and edits files written by htpasswd -B', () => {
    const hash = hashPassword('pw');
    assert.match(hash, /^\$2y\$10\$/);
    assert.ok(bcrypt.compareSync('pw', hash));
    const file = HtpasswdFile.parse(`old:${bcrypt.hashSync('x', 5)}\n`);
    file.set('new', 'secret');
    assert.deepEqual(file.names, ['old', 'new']);
    assert.equal(parseHtpasswd(file.toString()).size, 2);
    assert.ok(file.remove('old'));
    assert.equal(file.remove('old'), false);
    assert.throws(() => file.set('a:b', 'x'), /cannot be an htpasswd user/);
  });
});
