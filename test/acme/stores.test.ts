// LocalChallengeStore and LocalAcmeStateStore: paths, modes, atomic replacement, the lock.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LETS_ENCRYPT_DIRECTORIES, LocalAcmeStateStore, LocalChallengeStore, RenewalLockedError, type AccountRecord } from '../../src/acme/index.js';
import { TempDirs } from '../helpers/tmp.js';

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

describe('LocalChallengeStore', () => {
  const tmp = new TempDirs();
  after(() => tmp.cleanup());

  it('writes <webroot>/.well-known/acme-challenge/<token> with mode 0644 and removes it', async () => {
    const webroot = await tmp.make('rs-webroot-');
    const store = new LocalChallengeStore(webroot);
    const old = process.umask(0o077); // a restrictive umask must not make the file unreadable to nginx
    try {
      await store.put('tok_EN-123', 'tok_EN-123.thumbprint');
    } finally {
      process.umask(old);
    }
    const file = join(webroot, '.well-known', 'acme-challenge', 'tok_EN-123');
    assert.equal(await readFile(file, 'utf8'), 'tok_EN-123.thumbprint');
    assert.equal(await mode(file), 0o644);
    await store.put('tok_EN-123', 'replaced');
    assert.equal(await readFile(file, 'utf8'), 'replaced');
    assert.deepEqual(await readdir(join(webroot, '.well-known', 'acme-challenge')), ['tok_EN-123'], 'no temp files left');
    await store.remove('tok_EN-123');
    await store.remove('tok_EN-123'); // already gone: fine
    assert.deepEqual(await readdir(join(webroot, '.well-known', 'acme-challenge')), []);
  });

  it('refuses tokens that are not base64url', async () => {
    const store = new LocalChallengeStore(await tmp.make('rs-webroot-'));
    for (const bad of ['../../etc/passwd', 'a/b', '', 'a.b', 'x y']) {
      await assert.rejects(store.put(bad, 'x'), /not base64url/, bad);
      await assert.rejects(store.remove(bad), /not base64url/, bad);
    }
  });
});

describe('LocalAcmeStateStore', () => {
  const tmp = new TempDirs();
  after(() => tmp.cleanup());

  async function store(): Promise<{ s: LocalAcmeStateStore; root: string }> {
    const root = await tmp.make('rs-acme-state-');
    return { s: new LocalAcmeStateStore({ acmeDir: join(root, 'acme'), tlsDir: join(root, 'tls') }), root };
  }

  it('stores accounts per directory in <acmeDir>/<host>/account.json, mode 0600', async () => {
    const { s, root } = await store();
    const rec: AccountRecord = {
      directoryUrl: LETS_ENCRYPT_DIRECTORIES.staging,
      accountUrl: 'https://acme-staging-v02.api.letsencrypt.org/acme/acct/1',
      email: 'ops@example.com',
      createdAt: '2025-01-01T00:00:00.000Z',
      accountKeyPem: '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n',
    };
    assert.equal(await s.readAccount(rec.directoryUrl), undefined);
    await s.writeAccount(rec);
    const file = join(root, 'acme', 'acme-staging-v02.api.letsencrypt.org', 'account.json');
    assert.equal(await mode(file), 0o600);
    assert.equal(await mode(join(root, 'acme', 'acme-staging-v02.api.letsencrypt.org')), 0o700);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), rec);
    assert.deepEqual(await s.readAccount(rec.directoryUrl), rec);
    assert.equal(await s.readAccount(LETS_ENCRYPT_DIRECTORIES.production), undefined, 'production is a separate account');
  });

  it('replaces fullchain.pem and privkey.pem, key 0600, no temp files left', async () => {
    const { s, root } = await store();
    assert.equal(await s.readCertificate(), undefined);
    await s.writeCertificate({ certPem: 'CERT1', keyPem: 'KEY1' });
    const tls = join(root, 'tls');
    assert.equal(await readFile(join(tls, 'fullchain.pem'), 'utf8'), 'CERT1');
    assert.equal(await readFile(join(tls, 'privkey.pem'), 'utf8'), 'KEY1');
    assert.equal(await mode(join(tls, 'privkey.pem')), 0o600);
    assert.equal(await mode(join(tls, 'fullchain.pem')), 0o644);
    const inodeBefore = (await stat(join(tls, 'privkey.pem'))).ino;
    await chmod(join(tls, 'privkey.pem'), 0o640); // group-readable (e.g. for nginx's group): kept
    await s.writeCertificate({ certPem: 'CERT2', keyPem: 'KEY2' });
    assert.deepEqual(await s.readCertificate(), { certPem: 'CERT2', keyPem: 'KEY2' });
    assert.equal(await mode(join(tls, 'privkey.pem')), 0o640);
    assert.notEqual((await stat(join(tls, 'privkey.pem'))).ino, inodeBefore, 'replaced by rename, not rewritten in place');
    await chmod(join(tls, 'privkey.pem'), 0o644); // world-readable: never carried over
    await s.writeCertificate({ certPem: 'CERT3', keyPem: 'KEY3' });
    assert.equal(await mode(join(tls, 'privkey.pem')), 0o640);
    assert.deepEqual((await readdir(tls)).sort(), ['fullchain.pem', 'privkey.pem']);
  });

  it('reads no certificate when one of the two files is missing', async () => {
    const { s, root } = await store();
    await mkdir(join(root, 'tls'));
    await writeFile(join(root, 'tls', 'fullchain.pem'), 'CERT');
    assert.equal(await s.readCertificate(), undefined);
  });

  it('records the renewal state in <acmeDir>/renewal.json (or --state-file)', async () => {
    const { s, root } = await store();
    assert.equal(await s.readRenewalState(), undefined);
    await s.writeRenewalState({ lastAttempt: '2025-01-01T00:00:00.000Z', lastResult: 'not-due', serial: 'ab' });
    assert.equal(JSON.parse(await readFile(join(root, 'acme', 'renewal.json'), 'utf8')).serial, 'ab');
    const other = new LocalAcmeStateStore({ acmeDir: join(root, 'acme'), tlsDir: join(root, 'tls'), stateFile: join(root, 'state', 'last-renewal.json') });
    await other.writeRenewalState({ lastAttempt: '2025-01-02T00:00:00.000Z', lastResult: 'failed', error: 'x' });
    assert.equal((await other.readRenewalState())?.error, 'x');
    await writeFile(join(root, 'acme', 'renewal.json'), 'not json');
    await assert.rejects(s.readRenewalState(), /renewal.json: not JSON/);
  });

  it('lets one renewal run at a time and takes over an abandoned lock', async () => {
    const { s, root } = await store();
    const release = await s.lock();
    await assert.rejects(s.lock(), (e: Error) => e instanceof RenewalLockedError && /another certificate renewal is running/.test(e.message));
    await release();
    const again = await s.lock();
    // pretend the holder died an hour ago
    const lockFile = join(root, 'acme', 'renew.lock');
    const old = new Date(Date.now() - 3_600_000);
    await utimes(lockFile, old, old);
    const takeover = await s.lock();
    await again(); // the old holder's release must not remove the new holder's lock
    await assert.rejects(s.lock(), RenewalLockedError);
    await takeover();
    await takeover(); // idempotent
    await (await s.lock())();
  });
});
