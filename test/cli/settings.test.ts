import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { completeSettings, loadConfigFile, mergeSettings, renderConfigFile, SettingsError } from '../../src/settings/resolve.js';
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
