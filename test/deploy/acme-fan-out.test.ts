// Several hosts behind one name: the ACME stores that write to every host (here: local directories,
// as the host-side stores write them).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LocalAcmeStateStore, LocalChallengeStore, createP256KeyPem, type ChallengeStore } from '../../src/acme/index.js';
import { FanOutChallengeStore, FanOutStateStore } from '../../src/deploy/acme-remote.js';
import { TempDirs } from '../helpers/tmp.js';

const tmp = new TempDirs();
after(() => tmp.cleanup());

describe('FanOutChallengeStore', () => {
  test('puts every token into every webroot and removes it from all of them', async () => {
    const webroots = [await tmp.make('rs-fan-a-'), await tmp.make('rs-fan-b-'), await tmp.make('rs-fan-c-')];
    const store = new FanOutChallengeStore(webroots.map((w) => new LocalChallengeStore(w)));
    await store.put('tok_en-1', 'tok_en-1.thumb');
    for (const w of webroots) assert.equal(readFileSync(join(w, '.well-known/acme-challenge/tok_en-1'), 'utf8'), 'tok_en-1.thumb');
    await store.remove('tok_en-1');
    await store.remove('tok_en-1'); // already gone: no error
    for (const w of webroots) assert.equal(existsSync(join(w, '.well-known/acme-challenge/tok_en-1')), false);
  });

  test('a host that cannot take the token fails the put (the CA might have asked that host)', async () => {
    const ok = new LocalChallengeStore(await tmp.make('rs-fan-ok-'));
    const broken: ChallengeStore = { put: async () => Promise.reject(new Error('disk full on b')), remove: async () => undefined };
    await assert.rejects(new FanOutChallengeStore([ok, broken]).put('t', 'k'), /disk full on b/);
    assert.throws(() => new FanOutChallengeStore([]), /at least one/);
  });
});

describe('FanOutStateStore', () => {
  test('writes account, certificate and renewal state to every host and reads them from the first', async () => {
    const dirs = [await tmp.make('rs-state-a-'), await tmp.make('rs-state-b-')];
    const stores = dirs.map((d) => new LocalAcmeStateStore({ acmeDir: join(d, 'acme'), tlsDir: join(d, 'tls'), stateFile: join(d, 'state/renewal.json') }));
    const fan = new FanOutStateStore(stores);
    const directoryUrl = 'https://acme.example.test/directory';
    assert.equal(await fan.readAccount(directoryUrl), undefined);
    await fan.writeAccount({ directoryUrl, accountUrl: 'https://acme.example.test/acct/1', createdAt: '2025-01-01T00:00:00.000Z', accountKeyPem: await createP256KeyPem() });
    const files = { certPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', keyPem: '-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n' };
    await fan.writeCertificate(files);
    await fan.writeRenewalState({ lastAttempt: '2025-01-02T00:00:00.000Z', lastResult: 'renewed', serial: '01' });
    for (const s of stores) {
      assert.equal((await s.readAccount(directoryUrl))?.accountUrl, 'https://acme.example.test/acct/1');
      assert.deepEqual(await s.readCertificate(), files);
      assert.equal((await s.readRenewalState())?.serial, '01');
    }
    // reads come from the first host: what only the second has is not seen
    await stores[1]!.writeRenewalState({ lastAttempt: '2025-01-03T00:00:00.000Z', lastResult: 'failed', error: 'only on b' });
    assert.equal((await fan.readRenewalState())?.lastResult, 'renewed');
  });

  test('a host that fails a write is reported only once every other write has finished', async () => {
    const dir = await tmp.make('rs-state-slow-');
    const slow = new LocalAcmeStateStore({ acmeDir: join(dir, 'acme'), tlsDir: join(dir, 'tls'), stateFile: join(dir, 'state/renewal.json') });
    const late = Object.assign(Object.create(slow) as LocalAcmeStateStore, {
      writeRenewalState: async (state: Parameters<LocalAcmeStateStore['writeRenewalState']>[0]) => {
        await new Promise((r) => setTimeout(r, 100));
        await slow.writeRenewalState(state);
      },
    });
    const down = Object.assign(Object.create(slow) as LocalAcmeStateStore, { writeRenewalState: async () => Promise.reject(new Error('host b is down')) });
    await assert.rejects(new FanOutStateStore([late, down]).writeRenewalState({ lastAttempt: '2025-01-04T00:00:00.000Z', lastResult: 'renewed', serial: '02' }), /host b is down/);
    assert.equal((await slow.readRenewalState())?.serial, '02', 'the slow write had finished when the failure was reported');
  });
});

describe('keepsOwnCertificate (deploy and certs renew copying the first host\'s certificate)', () => {
  test('a host keeps its own valid certificate for the names, and gets the copy when its own is unfit', async () => {
    const { caSignedCert, selfSignedCert } = await import('../acme/support.js');
    const { keepsOwnCertificate } = await import('../../src/deploy/letsencrypt.js');
    const dir = await tmp.make('rs-keep-own-');
    const names = ['registry.example.com'];
    const [first, own, other, self] = await Promise.all([caSignedCert(dir, names), caSignedCert(dir, names), caSignedCert(dir, ['other.example.com']), selfSignedCert(dir, names)]);
    const now = new Date();
    assert.equal(keepsOwnCertificate(own, undefined, first.certPem, now), true, 'its own renewal stays');
    assert.equal(keepsOwnCertificate(own, undefined, first.certPem, new Date(now.getTime() + 70 * 86_400_000)), false, 'due: the copy');
    assert.equal(keepsOwnCertificate(other, undefined, first.certPem, now), false, 'other names: the copy');
    assert.equal(keepsOwnCertificate(self, undefined, first.certPem, now), false, 'self-signed placeholder: the copy');
    assert.equal(keepsOwnCertificate({ certPem: own.certPem, keyPem: first.keyPem }, undefined, first.certPem, now), false, 'key mismatch: the copy');
  });
});

describe('FanOutStateStore.lock', () => {
  test('takes every host\'s renewal lock (each host\'s timer renews too); one held elsewhere releases the others', async () => {
    const dirs = [await tmp.make('rs-lock-a-'), await tmp.make('rs-lock-b-')];
    const stores = dirs.map((d) => new LocalAcmeStateStore({ acmeDir: join(d, 'acme'), tlsDir: join(d, 'tls') }));
    const fan = new FanOutStateStore(stores);
    const release = await fan.lock();
    for (const d of dirs) assert.equal(existsSync(join(d, 'acme/renew.lock')), true, `${d} locked`);
    await release();
    for (const d of dirs) assert.equal(existsSync(join(d, 'acme/renew.lock')), false, `${d} released`);

    // the second host's timer is running: nothing stays locked, and the error says so
    const timer = await stores[1]!.lock();
    await assert.rejects(fan.lock(), /another certificate renewal is running/);
    assert.equal(existsSync(join(dirs[0]!, 'acme/renew.lock')), false, 'the first host\'s lock was given back');
    await timer();
  });
});
