// Unit tests: certificate parsing, the one-third-of-lifetime schedule, certificateStatus, the
// "order or not" decision, directory URLs and account paths, file formats, small parsers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  LETS_ENCRYPT_DIRECTORIES,
  accountDirName,
  accountFilePath,
  certificateStatus,
  decideRenewal,
  dnsNamesFromSan,
  keyMatchesCertificate,
  normalizeDomains,
  parseAccount,
  parseCertificate,
  parseConnectTo,
  parseRenewalState,
  parseRetryAfter,
  problemDetail,
  renewalDueAt,
  resolveDirectoryUrl,
  sameNames,
  serializeAccount,
  serializeRenewalState,
  splitPemChain,
  type RenewalState,
} from '../../src/acme/index.js';
import { TempDirs } from '../helpers/tmp.js';
import { caSignedCert, selfSignedCert, type TestCert } from './support.js';

const DAY = 86_400_000;
const at = (base: Date, ms: number): Date => new Date(base.getTime() + ms);

describe('renewal schedule', () => {
  it('is due when a third of the lifetime is left, whatever the lifetime', () => {
    const nb = new Date('2025-01-01T00:00:00Z');
    assert.equal(renewalDueAt(nb, at(nb, 90 * DAY)).toISOString(), '2025-03-02T00:00:00.000Z'); // 60 days in
    assert.equal(renewalDueAt(nb, at(nb, 45 * DAY)).toISOString(), '2025-01-31T00:00:00.000Z'); // 30 days in
    assert.equal(renewalDueAt(nb, at(nb, 6 * DAY)).toISOString(), '2025-01-05T00:00:00.000Z');
    assert.equal(renewalDueAt(nb, at(nb, 90_000)).toISOString(), '2025-01-01T00:01:00.000Z');
  });
});

describe('certificates', () => {
  const tmp = new TempDirs();
  let dir: string;
  let ca: TestCert;
  let self: TestCert;
  before(async () => {
    dir = await tmp.make('rs-acme-cert-');
    ca = await caSignedCert(dir, ['registry.example.com', 'alt.example.com'], 90);
    self = await selfSignedCert(dir, ['registry.example.com'], 90);
  });
  after(() => tmp.cleanup());

  it('parses names, issuer, validity, serial and key type', () => {
    const info = parseCertificate(ca.certPem);
    assert.deepEqual(info.names, ['alt.example.com', 'registry.example.com']);
    assert.equal(info.issuer, 'O=Test, CN=Test CA');
    assert.equal(info.subject, 'CN=registry.example.com');
    assert.equal(info.notAfter.getTime() - info.notBefore.getTime(), 90 * DAY);
    assert.match(info.serial, /^[0-9a-f]+$/);
    assert.equal(info.selfSigned, false);
    assert.equal(info.keyType, 'ec');
    assert.equal(info.curve, 'prime256v1');
    assert.equal(parseCertificate(self.certPem).selfSigned, true);
    assert.equal(splitPemChain(ca.certPem).length, 2);
    assert.throws(() => parseCertificate('not a certificate'), /no PEM certificate/);
  });

  it('matches keys to certificates', async () => {
    assert.equal(keyMatchesCertificate(ca.certPem, ca.keyPem), true);
    assert.equal(keyMatchesCertificate(ca.certPem, self.keyPem), false);
    assert.equal(keyMatchesCertificate(ca.certPem, 'garbage'), false);
  });

  it('certificateStatus: days left, due date, due flag and the last run', () => {
    const info = parseCertificate(ca.certPem);
    const state: RenewalState = { lastAttempt: '2025-01-01T00:00:00.000Z', lastResult: 'not-due', serial: info.serial };
    const early = certificateStatus(ca.certPem, state, at(info.notBefore, 10 * DAY + 3_600_000));
    assert.deepEqual(
      { ...early },
      {
        names: ['alt.example.com', 'registry.example.com'],
        issuer: 'O=Test, CN=Test CA',
        serial: info.serial,
        notBefore: info.notBefore.toISOString(),
        notAfter: info.notAfter.toISOString(),
        daysLeft: 79, // 79 days 23 hours
        dueAt: at(info.notBefore, 60 * DAY).toISOString(),
        due: false,
        expired: false,
        selfSigned: false,
        lastAttempt: '2025-01-01T00:00:00.000Z',
        lastResult: 'not-due',
      },
    );
    const justBefore = certificateStatus(ca.certPem, undefined, at(info.notBefore, 60 * DAY - 1000));
    assert.equal(justBefore.due, false);
    assert.equal(justBefore.daysLeft, 30); // 30 days and 1 s
    assert.equal(justBefore.lastResult, undefined);
    const due = certificateStatus(ca.certPem, undefined, at(info.notBefore, 60 * DAY));
    assert.equal(due.due, true);
    assert.equal(due.warning, undefined, 'just due is normal, no warning');
  });

  it('certificateStatus warns when expired, failing, or stalled', () => {
    const info = parseCertificate(ca.certPem);
    const expired = certificateStatus(ca.certPem, undefined, at(info.notAfter, 1000));
    assert.equal(expired.expired, true);
    assert.equal(expired.daysLeft, -1);
    assert.match(expired.warning ?? '', /expired on/);
    const failing = certificateStatus(
      ca.certPem,
      { lastAttempt: '2025-03-03T00:00:00.000Z', lastResult: 'failed', error: 'boom', rateLimit: { directoryUrl: 'x', detail: 'd', retryAfter: '2025-03-04T00:00:00.000Z' } },
      at(info.notBefore, 61 * DAY),
    );
    assert.match(failing.warning ?? '', /last attempt \(2025-03-03T00:00:00.000Z\) failed: boom/);
    assert.equal(failing.lastError, 'boom');
    assert.equal(failing.retryAfter, '2025-03-04T00:00:00.000Z');
    const stalled = certificateStatus(ca.certPem, { lastAttempt: '2025-01-01T00:00:00.000Z', lastResult: 'not-due' }, at(info.notBefore, 63 * DAY));
    assert.match(stalled.warning ?? '', /is the renewal timer running/);
  });

  it('a short-lived certificate counts as stalled after a sixth of its lifetime, not two days', async () => {
    const dir = await tmp.make('rs-short-');
    const short = await caSignedCert(dir, ['registry.example.com'], 6);
    const info = parseCertificate(short.certPem);
    const dueAt = renewalDueAt(info.notBefore, info.notAfter).getTime();
    const state: RenewalState = { lastAttempt: '2025-01-01T00:00:00.000Z', lastResult: 'not-due' };
    assert.equal(certificateStatus(short.certPem, state, new Date(dueAt + 20 * 3600_000)).warning, undefined, '20 h after due: not yet');
    assert.match(certificateStatus(short.certPem, state, new Date(dueAt + 25 * 3600_000)).warning ?? '', /is the renewal timer running/, 'a day after due (2 days before expiry)');
  });

  describe('decideRenewal', () => {
    const dirUrl = 'https://acme.example/directory';
    const names = ['registry.example.com', 'alt.example.com'];
    const ours = (): RenewalState => ({ lastAttempt: 'x', lastResult: 'renewed', directoryUrl: dirUrl, serial: parseCertificate(ca.certPem).serial });
    const nb = (): Date => parseCertificate(ca.certPem).notBefore;

    it('keeps a valid certificate of ours that is not due', () => {
      const d = decideRenewal({ installed: ca, state: ours(), domains: names, directoryUrl: dirUrl, now: at(nb(), 59 * DAY) });
      assert.equal(d.order, false, d.reason);
      assert.match(d.reason, /^valid until .* renewal due at /);
    });
    it('orders when due, expired or forced', () => {
      assert.match(decideRenewal({ installed: ca, state: ours(), domains: names, directoryUrl: dirUrl, now: at(nb(), 60 * DAY) }).reason, /renewal is due since/);
      assert.match(decideRenewal({ installed: ca, state: ours(), domains: names, directoryUrl: dirUrl, now: at(nb(), 91 * DAY) }).reason, /expired on/);
      const forced = decideRenewal({ installed: ca, state: ours(), domains: names, directoryUrl: dirUrl, now: nb(), force: true });
      assert.deepEqual([forced.order, forced.reason], [true, 'renewal forced']);
    });
    it('orders when nothing usable is installed', () => {
      const now = at(nb(), DAY);
      const cases: Array<[Parameters<typeof decideRenewal>[0], RegExp]> = [
        [{ installed: undefined, state: ours(), domains: names, directoryUrl: dirUrl, now }, /no certificate is installed/],
        [{ installed: { certPem: 'junk', keyPem: ca.keyPem }, state: ours(), domains: names, directoryUrl: dirUrl, now }, /cannot be read/],
        [{ installed: ca, state: ours(), domains: ['registry.example.com'], directoryUrl: dirUrl, now }, /is for alt.example.com, registry.example.com, not registry.example.com/],
        [{ installed: { certPem: ca.certPem, keyPem: self.keyPem }, state: ours(), domains: names, directoryUrl: dirUrl, now }, /private key does not match/],
        [{ installed: self, state: { ...ours(), serial: parseCertificate(self.certPem).serial }, domains: ['registry.example.com'], directoryUrl: dirUrl, now }, /self-signed/],
        [{ installed: ca, state: undefined, domains: names, directoryUrl: dirUrl, now }, /has no renewal record/],
        [{ installed: ca, state: { ...ours(), directoryUrl: LETS_ENCRYPT_DIRECTORIES.staging }, domains: names, directoryUrl: dirUrl, now }, /was issued through https:\/\/acme-staging-v02/],
        // a certificate installed since (e.g. --tls custom, then back) beside a record of ours
        [{ installed: ca, state: { ...ours(), serial: '0badc0de' }, domains: names, directoryUrl: dirUrl, now }, /is not the one the renewal record names \(0badc0de\)/],
      ];
      for (const [input, re] of cases) {
        const d = decideRenewal(input);
        assert.equal(d.order, true, d.reason);
        assert.match(d.reason, re);
      }
    });
    it('compares names case-insensitively and in any order', () => {
      const d = decideRenewal({ installed: ca, state: ours(), domains: ['ALT.example.com', 'registry.example.com'], directoryUrl: dirUrl, now: at(nb(), DAY) });
      assert.equal(d.order, false, d.reason);
    });
  });
});

describe('names', () => {
  it('normalizes and validates domains', () => {
    assert.deepEqual(normalizeDomains([' Registry.Example.COM. ', 'registry.example.com', 'b.example.com']), ['registry.example.com', 'b.example.com']);
    assert.throws(() => normalizeDomains([]), /no domain/);
    assert.deepEqual(normalizeDomains(['localhost']), ['localhost']); // a private CA may issue for single labels
    assert.throws(() => normalizeDomains(['a..b.com']), /not a domain name/);
    assert.throws(() => normalizeDomains(['bad_name.example.com']), /not a domain name/);
    assert.throws(() => normalizeDomains(['*.example.com']), /DNS-01/);
    assert.equal(sameNames(['a.com', 'b.com'], ['B.com', 'a.com', 'a.com']), true);
    assert.equal(sameNames(['a.com'], ['a.com', 'b.com']), false);
    assert.deepEqual(dnsNamesFromSan('DNS:b.example, IP Address:1.2.3.4, DNS:A.example'), ['a.example', 'b.example']);
  });
});

describe('directories and accounts', () => {
  it('resolves --acme-directory / --staging / the default', () => {
    assert.equal(resolveDirectoryUrl({}), 'https://acme-v02.api.letsencrypt.org/directory');
    assert.equal(resolveDirectoryUrl({ staging: true }), 'https://acme-staging-v02.api.letsencrypt.org/directory');
    assert.equal(resolveDirectoryUrl({ directory: 'https://ca.internal:14000/dir' }), 'https://ca.internal:14000/dir');
    assert.throws(() => resolveDirectoryUrl({ directory: 'https://x/dir', staging: true }), /--staging cannot be combined with a directory URL/);
    assert.throws(() => resolveDirectoryUrl({ directory: 'ftp://x/dir' }), /must be https/);
    assert.throws(() => resolveDirectoryUrl({ directory: 'nope' }), /not a URL/);
  });

  it('keeps one account directory per directory URL', () => {
    assert.equal(accountDirName(LETS_ENCRYPT_DIRECTORIES.production), 'acme-v02.api.letsencrypt.org');
    assert.equal(accountDirName(LETS_ENCRYPT_DIRECTORIES.staging), 'acme-staging-v02.api.letsencrypt.org');
    assert.equal(accountFilePath(LETS_ENCRYPT_DIRECTORIES.staging), 'acme-staging-v02.api.letsencrypt.org/account.json');
    const a = accountDirName('https://127.0.0.1:14000/dir');
    const b = accountDirName('https://127.0.0.1:14001/dir');
    assert.match(a, /^127\.0\.0\.1-[0-9a-f]{12}$/);
    assert.notEqual(a, b);
    assert.match(accountDirName('https://[::1]:14000/dir'), /^__1-[0-9a-f]{12}$/);
    assert.equal(accountDirName('https://Ca.Example/directory'), 'ca.example');
  });

  it('round-trips account.json and refuses one for another directory', () => {
    const rec = { directoryUrl: 'https://ca.example/directory', accountUrl: 'https://ca.example/acct/1', email: 'a@b.c', createdAt: '2025-01-01T00:00:00.000Z', accountKeyPem: '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n' };
    assert.deepEqual(parseAccount(serializeAccount(rec), rec.directoryUrl), rec);
    assert.throws(() => parseAccount(serializeAccount(rec), 'https://other.example/directory'), /belongs to https:\/\/ca.example\/directory/);
    assert.throws(() => parseAccount('{', rec.directoryUrl), /not JSON/);
    assert.throws(() => parseAccount('{}', rec.directoryUrl), /no accountKeyPem/);
  });

  it('round-trips the renewal state and rejects malformed ones', () => {
    const s: RenewalState = { lastAttempt: '2025-01-01T00:00:00.000Z', lastResult: 'failed', error: 'x', serial: 'ab', notAfter: '2025-02-01T00:00:00.000Z', issuer: 'CN=R11', names: ['a.com'] };
    assert.deepEqual(parseRenewalState(serializeRenewalState(s)), s);
    assert.throws(() => parseRenewalState('{"lastAttempt":"x","lastResult":"maybe"}'), /not a renewal state/);
    assert.throws(() => parseRenewalState('{"lastAttempt":"x","lastResult":"failed","names":[1]}'), /names/);
  });
});

describe('small parsers', () => {
  it('parses Retry-After as seconds or a date', () => {
    const now = new Date('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('120', now)?.toISOString(), '2025-01-01T00:02:00.000Z');
    assert.equal(parseRetryAfter(['3600'], now)?.toISOString(), '2025-01-01T01:00:00.000Z');
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 06:00:00 GMT', now)?.toISOString(), '2025-01-01T06:00:00.000Z');
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
  });
  it('extracts problem details', () => {
    assert.equal(problemDetail({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many' }), 'too many');
    assert.equal(problemDetail('{"detail":"as text"}'), 'as text');
    assert.equal(problemDetail(Buffer.from('plain body')), 'plain body');
    assert.equal(problemDetail(undefined), '');
  });
  it('parses --check-via', () => {
    assert.deepEqual(parseConnectTo('nginx:8080', 80), { host: 'nginx', port: 8080 });
    assert.deepEqual(parseConnectTo('203.0.113.7', 80), { host: '203.0.113.7', port: 80 });
    assert.deepEqual(parseConnectTo('[2001:db8::1]:81', 80), { host: '2001:db8::1', port: 81 });
    assert.deepEqual(parseConnectTo('2001:db8::1', 80), { host: '2001:db8::1', port: 80 });
    assert.throws(() => parseConnectTo('a:b:c', 80), /cannot parse/);
    assert.throws(() => parseConnectTo('host:70000', 80), /bad port/);
  });
});
