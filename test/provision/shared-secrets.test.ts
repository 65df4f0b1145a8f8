import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { decideSecrets, decideUsers, generateUploadSecret, S3_CREDENTIALS_MISSING, storedHash, usableUploadSecret } from '../../src/provision/shared-secrets.js';
import { SettingsError } from '../../src/settings/resolve.js';
import { HtpasswdFile } from '../../src/users/credentials.js';
import { HTPASSWD } from './settings-fixture.js';

const buf = (s: string) => Buffer.from(s);
const noGenerate = () => assert.fail('nothing should be generated');

describe('deploy: the users every host shares', () => {
  it('first deploy: the user is added with a generated password, shown once', () => {
    const d = decideUsers({ user: 'admin', copies: [null], generatePassword: () => 'generated-password-1' });
    assert.equal(d.changed, true);
    assert.equal(d.detail, 'password set');
    assert.equal(d.generatedPassword, 'generated-password-1');
    const file = HtpasswdFile.parse(d.htpasswd);
    assert.deepEqual(file.names, ['admin']);
    assert.ok(bcrypt.compareSync('generated-password-1', storedHash([buf(d.htpasswd)], 'admin')!));
  });

  it('first deploy with a given password: that one is set and nothing is generated', () => {
    const d = decideUsers({ user: 'admin', copies: [null, null], password: 'given-pass', generatePassword: noGenerate });
    assert.equal(d.generatedPassword, undefined);
    assert.equal(d.detail, 'password set');
    assert.ok(bcrypt.compareSync('given-pass', storedHash([buf(d.htpasswd)], 'admin')!));
  });

  it('unchanged re-run: the file is kept byte for byte', () => {
    const d = decideUsers({ user: 'admin', copies: [buf(HTPASSWD)], generatePassword: noGenerate });
    assert.deepEqual(d, { htpasswd: HTPASSWD, changed: false, detail: 'exists', generatedPassword: undefined });
  });

  it('a given password equal to the stored one changes nothing; a different one is set', () => {
    const text = `other:${bcrypt.hashSync('x', 4)}\nadmin:${bcrypt.hashSync('old-pass', 4)}\n`;
    const same = decideUsers({ user: 'admin', copies: [buf(text)], password: 'old-pass', passwordMatches: true, generatePassword: noGenerate });
    assert.deepEqual(same, { htpasswd: text, changed: false, detail: 'exists', generatedPassword: undefined });
    const other = decideUsers({ user: 'admin', copies: [buf(text)], password: 'new-pass', passwordMatches: false, generatePassword: noGenerate });
    assert.equal(other.changed, true);
    assert.equal(other.detail, 'password set');
    assert.deepEqual(HtpasswdFile.parse(other.htpasswd).names, ['other', 'admin']);
    assert.ok(bcrypt.compareSync('new-pass', storedHash([buf(other.htpasswd)], 'admin')!));
  });

  it('the hash compared is the user\'s in the first host that has a file', () => {
    assert.equal(storedHash([null, buf('bob:h1\nadmin:h2\n'), buf('admin:h3\n')], 'admin'), 'h2');
    assert.equal(storedHash([buf('administrator:h1\n')], 'admin'), undefined);
    assert.equal(storedHash([null], 'admin'), undefined);
  });

  it('several hosts, one missing its copy or holding another: the first host\'s copy goes to all', () => {
    const missing = decideUsers({ user: 'admin', copies: [buf(HTPASSWD), null], generatePassword: noGenerate });
    assert.deepEqual(missing, { htpasswd: HTPASSWD, changed: true, detail: 'copied to every host', generatedPassword: undefined });
    const differs = decideUsers({ user: 'admin', copies: [null, buf(HTPASSWD), buf('admin:other\n')], generatePassword: noGenerate });
    assert.equal(differs.htpasswd, HTPASSWD);
    assert.equal(differs.detail, 'copied to every host');
    const same = decideUsers({ user: 'admin', copies: [buf(HTPASSWD), buf(HTPASSWD)], generatePassword: noGenerate });
    assert.equal(same.changed, false);
  });
});

describe('deploy: the upload secret and the S3 credentials', () => {
  const secret = 'a'.repeat(43);
  const base = { storage: false, credentialCopies: [], several: false, generateSecret: () => 'new-secret' };

  it('first deploy: a secret is generated', () => {
    assert.deepEqual(decideSecrets({ ...base, secretCopies: [null] }), { uploadSecret: 'new-secret', s3Credentials: undefined, changed: true, detail: 'generated' });
  });

  it('unchanged re-run: the host\'s secret is kept (one host: "exist", several: "the same on every host")', () => {
    assert.deepEqual(decideSecrets({ ...base, secretCopies: [buf(`${secret}\n`)], generateSecret: noGenerate }), { uploadSecret: secret, s3Credentials: undefined, changed: false, detail: 'exist' });
    assert.equal(decideSecrets({ ...base, several: true, secretCopies: [buf(secret), buf(secret)], generateSecret: noGenerate }).detail, 'the same on every host');
  });

  it('a secret too short on one host is replaced by the usable one of another', () => {
    const d = decideSecrets({ ...base, several: true, secretCopies: [buf('short'), buf(secret)], generateSecret: noGenerate });
    assert.deepEqual(d, { uploadSecret: secret, s3Credentials: undefined, changed: true, detail: 'copied to every host' });
  });

  it('no host holds a usable secret: a new one, the same for all', () => {
    const d = decideSecrets({ ...base, several: true, secretCopies: [buf('short'), null], generateSecret: () => 'fresh' });
    assert.equal(d.uploadSecret, 'fresh');
    assert.equal(d.detail, 'generated');
  });

  it('S3 credentials: given ones win, else the first host\'s copy is kept and copied', () => {
    const s3 = { ...base, storage: true, secretCopies: [buf(secret), buf(secret)], several: true, generateSecret: noGenerate };
    const kept = decideSecrets({ ...s3, credentialCopies: [buf('id=a\n'), buf('id=a\n')] });
    assert.equal(kept.s3Credentials, 'id=a\n');
    assert.equal(kept.changed, false);
    const copied = decideSecrets({ ...s3, credentialCopies: [null, buf('id=a\n')] });
    assert.deepEqual([copied.s3Credentials, copied.changed, copied.detail], ['id=a\n', true, 'copied to every host']);
    const given = decideSecrets({ ...s3, credentialCopies: [buf('id=a\n'), buf('id=a\n')], givenCredentials: 'id=b\n' });
    assert.deepEqual([given.s3Credentials, given.changed], ['id=b\n', true]);
  });

  it('S3 credentials neither given nor on a host: the one line that says what to do', () => {
    assert.throws(
      () => decideSecrets({ ...base, storage: true, secretCopies: [null], credentialCopies: [null] }),
      (err: unknown) => err instanceof SettingsError && err.message === 'the bucket needs its credentials once: give --s3-credentials FILE (or --s3-credentials - to read them from stdin)' && err.message === S3_CREDENTIALS_MISSING,
    );
  });

  it('generated secrets are usable, 43 characters of base64url; whitespace around a host copy is ignored', () => {
    const s = generateUploadSecret();
    assert.match(s, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(usableUploadSecret(buf(` ${s}\n`)), s);
    assert.equal(usableUploadSecret(buf('x'.repeat(31))), undefined);
    assert.equal(usableUploadSecret(null), undefined);
  });
});
