// obtainOrRenew against a real ACME server (pebble), HTTP-01 through a local webroot served on
// pebble's validation port: issuance, reuse, forced renewal, the one-third rule, preflight and
// authorization failures, switching directories, an untrusted ACME server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  AcmeServerError,
  AuthorizationFailedError,
  LocalAcmeStateStore,
  LocalChallengeStore,
  PreflightError,
  accountDirName,
  obtainOrRenew,
  parseCertificate,
  splitPemChain,
  type ObtainOptions,
  type ObtainResult,
} from '../../src/acme/index.js';
import { startPebble, startWebrootServer, type RunningPebble, type WebrootServer } from '../helpers/pebble.js';
import { TempDirs } from '../helpers/tmp.js';
import { randomDomain, resolveTo, spyAcmeRequests } from './support.js';

const VALIDITY_S = 600; // short-lived certificates: 10 minutes

/** Completes a TLS handshake with the installed files, verifying against pebble's root and the name. */
async function tlsHandshake(certPem: string, keyPem: string, rootPem: string, servername: string): Promise<void> {
  const server = tls.createServer({ cert: certPem, key: keyPem }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    await new Promise<void>((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port, servername, ca: rootPem }, () => {
        sock.end();
        resolve();
      });
      sock.on('error', reject);
    });
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('obtainOrRenew with pebble', () => {
  const tmp = new TempDirs();
  let pebble: RunningPebble;
  let webroot: string;
  let web: WebrootServer;

  before(async () => {
    pebble = await startPebble({ certificateValidityPeriod: VALIDITY_S });
    webroot = await tmp.make('rs-acme-webroot-');
    web = await startWebrootServer(webroot, pebble.httpPort);
  });
  after(async () => {
    await web?.close();
    await pebble?.stop();
    await tmp.cleanup();
  });

  /** Options for one deployment (its own state dir), talking to `pebble`. */
  async function deployment(domain = randomDomain()): Promise<{ opts: ObtainOptions; store: LocalAcmeStateStore; root: string; logs: string[] }> {
    const root = await tmp.make('rs-acme-state-');
    const store = new LocalAcmeStateStore({ acmeDir: join(root, 'acme'), tlsDir: join(root, 'tls') });
    const logs: string[] = [];
    return {
      root,
      store,
      logs,
      opts: {
        directoryUrl: pebble.directoryUrl,
        email: 'ops@example.com',
        domains: [domain],
        challengeStore: new LocalChallengeStore(webroot),
        stateStore: store,
        caPem: pebble.caPem,
        preflight: { httpPort: pebble.httpPort, resolver: resolveTo('127.0.0.1') },
        polling: { minMs: 100, maxMs: 500, attempts: 30 },
        log: (l) => logs.push(l),
      },
    };
  }

  const withLogs = async <T>(logs: string[], fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof Error) e.message += `\n--- obtainOrRenew log ---\n${logs.join('\n')}\n${pebble.logTail(30)}`;
      throw e;
    }
  };

  it('issues a P-256 certificate chaining to pebble\'s root, and stores the account (0600)', async () => {
    const { opts, store, root, logs } = await deployment();
    const renewed: ObtainResult[] = [];
    const result = await withLogs(logs, () => obtainOrRenew({ ...opts, onRenewed: (r) => void renewed.push(r) }));
    assert.equal(result.action, 'issued');
    assert.deepEqual(result.names, opts.domains);
    assert.equal(renewed.length, 1);
    assert.equal(renewed[0]!.serial, result.serial);

    const files = await store.readCertificate();
    assert.ok(files);
    assert.equal(files.certPem, result.certPem);
    // chain: leaf ← intermediate ← pebble's root
    const [leafPem, interPem] = splitPemChain(files.certPem);
    const leaf = new X509Certificate(leafPem!);
    const inter = new X509Certificate(interPem!);
    const root0 = new X509Certificate(pebble.rootPem);
    assert.ok(leaf.checkIssued(inter) && leaf.verify(inter.publicKey), 'leaf is signed by the intermediate');
    assert.ok(inter.checkIssued(root0) && inter.verify(root0.publicKey), 'intermediate is signed by pebble\'s root');
    assert.ok(leaf.checkHost(opts.domains[0]!));
    await tlsHandshake(files.certPem, files.keyPem, pebble.rootPem, opts.domains[0]!);
    // keys
    assert.equal(createPrivateKey(files.keyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(parseCertificate(files.certPem).curve, 'prime256v1');
    assert.equal((await stat(store.privateKeyFile)).mode & 0o777, 0o600);
    // lifetime from pebble's certificateValidityPeriod
    const info = parseCertificate(files.certPem);
    assert.ok(Math.abs(info.notAfter.getTime() - info.notBefore.getTime() - VALIDITY_S * 1000) <= 2000);
    // account
    const accountFile = join(root, 'acme', accountDirName(pebble.directoryUrl), 'account.json');
    assert.equal((await stat(accountFile)).mode & 0o777, 0o600);
    const account = JSON.parse(await readFile(accountFile, 'utf8'));
    assert.equal(account.directoryUrl, pebble.directoryUrl);
    assert.equal(account.email, 'ops@example.com');
    assert.match(account.accountUrl, /^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
    assert.equal(createPrivateKey(account.accountKeyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    // state
    const state = await store.readRenewalState();
    assert.equal(state?.lastResult, 'renewed');
    assert.equal(state?.serial, result.serial);
    assert.equal(state?.notAfter, result.notAfter);
    assert.equal(state?.directoryUrl, pebble.directoryUrl);
    assert.deepEqual(state?.names, opts.domains);
    assert.match(state?.issuer ?? '', /Pebble Intermediate CA/);
    // the challenge file is gone again
    assert.deepEqual(await readdir(join(webroot, '.well-known', 'acme-challenge')), []);
    assert.ok(pebble.orderCount() >= 1, 'pebble logged the order');
  });

  it('orders nothing while the certificate is valid, renews when forced, and reuses the account', async () => {
    const { opts, store, root, logs } = await deployment();
    const first = await withLogs(logs, () => obtainOrRenew(opts));
    const accountFile = join(root, 'acme', accountDirName(pebble.directoryUrl), 'account.json');
    const accountBefore = await readFile(accountFile, 'utf8');

    const spy = spyAcmeRequests();
    try {
      let hooked = 0;
      const second = await withLogs(logs, () => obtainOrRenew({ ...opts, onRenewed: () => void hooked++ }));
      assert.equal(second.action, 'not-due');
      assert.equal(second.serial, first.serial);
      assert.equal(hooked, 0);
      assert.deepEqual(spy.requests, [], 'no ACME request at all for a certificate that is not due');
      assert.equal((await store.readRenewalState())?.lastResult, 'not-due');

      const forced = await withLogs(logs, () => obtainOrRenew({ ...opts, force: true }));
      assert.equal(forced.action, 'renewed');
      assert.notEqual(forced.serial, first.serial);
      assert.equal(spy.posts(/\/order-plz$/), 1, 'exactly one order');
      assert.equal(spy.posts(/\/sign-me-up$/), 0, 'no new account');
      assert.equal(await readFile(accountFile, 'utf8'), accountBefore, 'account.json unchanged');
      assert.equal((await store.readCertificate())?.certPem, forced.certPem);
      assert.equal((await store.readRenewalState())?.serial, forced.serial);
    } finally {
      spy.stop();
    }
  });

  it('renews only once less than a third of the lifetime is left', async () => {
    const { opts, store, logs } = await deployment();
    const first = await withLogs(logs, () => obtainOrRenew(opts));
    const nb = Date.parse(first.notBefore);
    const life = Date.parse(first.notAfter) - nb;
    assert.equal(first.dueAt, new Date(Date.parse(first.notAfter) - life / 3).toISOString());

    const notYet = await obtainOrRenew({ ...opts, now: new Date(nb + life * 0.6) });
    assert.equal(notYet.action, 'not-due');
    assert.equal(notYet.serial, first.serial);

    const due = await withLogs(logs, () => obtainOrRenew({ ...opts, now: new Date(nb + life * 0.7) }));
    assert.equal(due.action, 'renewed');
    assert.notEqual(due.serial, first.serial);
    assert.match(due.reason, /renewal is due since/);
    const state = await store.readRenewalState();
    assert.equal(state?.lastAttempt, new Date(nb + life * 0.7).toISOString());
    assert.equal(state?.serial, due.serial);
  });

  it('registers the stored key again when the CA no longer knows the account', async () => {
    const { opts, store, logs } = await deployment();
    await withLogs(logs, () => obtainOrRenew(opts));
    const account = (await store.readAccount(pebble.directoryUrl))!;
    const bogus = account.accountUrl!.replace(/my-account\/.*/, 'my-account/0000000000000000');
    await store.writeAccount({ ...account, accountUrl: bogus });
    const spy = spyAcmeRequests();
    try {
      const r = await withLogs(logs, () => obtainOrRenew({ ...opts, force: true }));
      assert.equal(r.action, 'renewed');
      assert.equal(spy.posts(/\/sign-me-up$/), 1, 'registered once more');
      assert.equal(spy.posts(/\/order-plz$/), 2, 'the refused order, then the real one');
    } finally {
      spy.stop();
    }
    const after = (await store.readAccount(pebble.directoryUrl))!;
    assert.notEqual(after.accountUrl, bogus);
    assert.equal(after.accountKeyPem, account.accountKeyPem, 'same key');
    assert.ok(logs.some((l) => /does not know the stored account/.test(l)), logs.join('\n'));
  });

  it('stops before any ACME request when the domain does not resolve', async () => {
    const { opts, store } = await deployment(`registry-${Math.random().toString(36).slice(2, 8)}.invalid`);
    const ordersBefore = pebble.orderCount();
    const spy = spyAcmeRequests();
    try {
      const { resolver: _ignored, ...systemDns } = opts.preflight as Exclude<ObtainOptions['preflight'], false | undefined>;
      await assert.rejects(obtainOrRenew({ ...opts, preflight: systemDns }), (e: Error) => e instanceof PreflightError && /does not resolve|cannot resolve/.test(e.message));
      assert.deepEqual(spy.requests, []);
    } finally {
      spy.stop();
    }
    assert.equal(pebble.orderCount(), ordersBefore);
    const state = await store.readRenewalState();
    assert.equal(state?.lastResult, 'failed');
    assert.match(state?.error ?? '', /^preflight failed, no certificate was ordered: .*A record/);
    assert.equal(await store.readAccount(pebble.directoryUrl), undefined, 'no account was even created');
  });

  it('stops before any ACME request when the challenge path is not served', async () => {
    const { opts, store } = await deployment();
    const spy = spyAcmeRequests();
    web.serveFiles = false;
    try {
      await assert.rejects(obtainOrRenew(opts), (e: Error) => e instanceof PreflightError && /answered HTTP 404 instead of the test token/.test(e.message));
      assert.deepEqual(spy.requests, []);
    } finally {
      web.serveFiles = true;
      spy.stop();
    }
    assert.equal((await store.readRenewalState())?.lastResult, 'failed');
    assert.equal(await store.readCertificate(), undefined);
  });

  it('a failed authorization ends the run after a single order (no retry loop)', async () => {
    const { opts, store } = await deployment();
    const spy = spyAcmeRequests();
    web.serveFiles = false;
    try {
      await assert.rejects(obtainOrRenew({ ...opts, preflight: false }), (e: Error) => {
        assert.ok(e instanceof AuthorizationFailedError, e.stack);
        assert.match(e.message, new RegExp(`^the CA could not validate ${opts.domains[0]!.replace(/\./g, '\\.')} over HTTP-01: .*404`));
        return true;
      });
      assert.equal(spy.posts(/\/order-plz$/), 1);
      assert.equal(spy.posts(/\/finalize-order\//), 0);
    } finally {
      web.serveFiles = true;
      spy.stop();
    }
    const state = await store.readRenewalState();
    assert.equal(state?.lastResult, 'failed');
    assert.match(state?.error ?? '', /could not validate/);
    assert.equal(await store.readCertificate(), undefined);
    assert.deepEqual(await readdir(join(webroot, '.well-known', 'acme-challenge')), [], 'token removed after the failure');
  });

  it('replaces a certificate from another directory, with a separate account there', async () => {
    const { opts, store, root, logs } = await deployment();
    const first = await withLogs(logs, () => obtainOrRenew(opts));
    const other = await startPebble({ certificateValidityPeriod: VALIDITY_S });
    const otherWeb = await startWebrootServer(webroot, other.httpPort);
    try {
      const switched = await withLogs(logs, () =>
        obtainOrRenew({ ...opts, directoryUrl: other.directoryUrl, caPem: other.caPem, preflight: { httpPort: other.httpPort, resolver: resolveTo('127.0.0.1') } }),
      );
      assert.equal(switched.action, 'issued');
      assert.match(switched.reason, /was issued through https:\/\/127\.0\.0\.1:\d+\/dir, not/);
      assert.notEqual(switched.serial, first.serial);
      assert.match(switched.issuer, /Pebble Intermediate CA/);
      const leaf = new X509Certificate(splitPemChain(switched.certPem)[0]!);
      assert.ok(leaf.checkIssued(new X509Certificate(other.intermediatePem)), 'issued by the second CA');
      assert.equal((await store.readRenewalState())?.directoryUrl, other.directoryUrl);
      const accountDirs = (await readdir(join(root, 'acme'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
      assert.deepEqual(accountDirs, [accountDirName(pebble.directoryUrl), accountDirName(other.directoryUrl)].sort());
    } finally {
      await otherWeb.close();
      await other.stop();
    }
  });

  it('fails fast with a hint when the ACME server\'s HTTPS certificate is not trusted', async () => {
    const { opts, store } = await deployment();
    const started = Date.now();
    await assert.rejects(obtainOrRenew({ ...opts, caPem: undefined }), (e: Error) => {
      assert.ok(e instanceof AcmeServerError, e.stack);
      assert.match(e.message, /cannot reach the ACME server at https:\/\/127\.0\.0\.1:\d+\/dir: .*not trusted; pass the CA that signed it \(--acme-ca FILE\) or set NODE_EXTRA_CA_CERTS/);
      return true;
    });
    assert.ok(Date.now() - started < 10_000, 'no retry loop');
    assert.match((await store.readRenewalState())?.error ?? '', /not trusted/);
  });
});
