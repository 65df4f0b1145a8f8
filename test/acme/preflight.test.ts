// runPreflight against a local HTTP server standing in for nginx: DNS checks (pluggable resolver and
// the system's), the challenge path, and the messages that say what to fix.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalChallengeStore, PreflightError, runPreflight, type ChallengeStore, type PreflightOptions } from '../../src/acme/index.js';
import { freePort } from '../helpers/net.js';
import { startWebrootServer, type WebrootServer } from '../helpers/pebble.js';
import { TempDirs } from '../helpers/tmp.js';
import { randomDomain, resolveTo } from './support.js';

async function preflightError(opts: PreflightOptions): Promise<PreflightError> {
  try {
    await runPreflight(opts);
  } catch (e) {
    if (e instanceof PreflightError) return e;
    throw e;
  }
  assert.fail('preflight passed but should have failed');
}

describe('runPreflight', () => {
  const tmp = new TempDirs();
  let webroot: string;
  let store: LocalChallengeStore;
  let server: WebrootServer;
  let port: number;
  const challengeDir = (): string => join(webroot, '.well-known', 'acme-challenge');

  before(async () => {
    webroot = await tmp.make('rs-preflight-webroot-');
    store = new LocalChallengeStore(webroot);
    port = await freePort();
    server = await startWebrootServer(webroot, port);
  });
  after(async () => {
    await server.close();
    await tmp.cleanup();
  });

  it('passes when the domain resolves and the webroot is served; the test token is removed', async () => {
    const domain = randomDomain();
    const lines: string[] = [];
    const report = await runPreflight({ domains: [domain], challengeStore: store, httpPort: port, resolver: resolveTo('127.0.0.1'), expectedAddresses: ['127.0.0.1'], log: (l) => lines.push(l) });
    assert.deepEqual(report.checks.map((c) => [c.check, c.ok]), [['dns', true], ['http', true]]);
    assert.deepEqual(report.warnings, []);
    assert.match(report.checks[1]!.message, new RegExp(`^http://${domain}:${port}/\\.well-known/acme-challenge/registry-setup-preflight-[0-9a-f]+ serves the webroot$`));
    assert.ok(server.requests.some((p) => p.startsWith('/.well-known/acme-challenge/registry-setup-preflight-')));
    assert.deepEqual(await readdir(challengeDir()), [], 'test token removed');
    assert.deepEqual(lines, []);
  });

  it('fails for a name that does not resolve (system resolver), before writing anything', async () => {
    const domain = `registry-${Math.random().toString(36).slice(2)}.invalid`;
    const before = server.requests.length;
    const spy: ChallengeStore & { puts: number } = { puts: 0, put: async () => void spy.puts++, remove: async () => undefined };
    const e = await preflightError({ domains: [domain], challengeStore: spy, httpPort: port });
    assert.equal(e.failures.length, 1);
    assert.match(e.message, /^preflight failed, no certificate was ordered: /);
    // NXDOMAIN from a working resolver; a CI box without any DNS gets "cannot resolve" instead
    assert.match(e.message, new RegExp(`(${domain.replace(/\./g, '\\.')} does not resolve \\(no A or AAAA record\\): create an A record \\(IPv4\\) and/or AAAA record \\(IPv6\\)|cannot resolve ${domain.replace(/\./g, '\\.')})`));
    assert.equal(spy.puts, 0);
    assert.equal(server.requests.length, before);
  });

  it('fails when the name points at another server', async () => {
    const e = await preflightError({ domains: ['registry.example.com'], challengeStore: store, httpPort: port, resolver: resolveTo('192.0.2.10'), expectedAddresses: ['203.0.113.7'] });
    assert.match(e.message, /registry\.example\.com resolves to 192\.0\.2\.10, not to this server \(203\.0\.113\.7\): update its A\/AAAA records/);
  });

  it('reports a resolver error', async () => {
    const e = await preflightError({
      domains: ['registry.example.com'], challengeStore: store, httpPort: port,
      resolver: async () => {
        throw Object.assign(new Error('queryA ESERVFAIL registry.example.com'), { code: 'ESERVFAIL' });
      },
    });
    assert.match(e.message, /cannot resolve registry\.example\.com \(ESERVFAIL\)/);
  });

  it('fails when port 80 answers but not from the webroot (404), and removes the token', async () => {
    const p = await freePort();
    const other = await startWebrootServer(webroot, p, { serveFiles: false });
    try {
      const e = await preflightError({ domains: ['registry.example.com'], challengeStore: store, httpPort: p, resolver: resolveTo('127.0.0.1') });
      assert.match(e.message, /answered HTTP 404 instead of the test token: make sure nginx serves the webroot at \/\.well-known\/acme-challenge\/ on port \d+/);
      assert.equal(other.requests.length, 1);
      assert.deepEqual(await readdir(challengeDir()), []);
    } finally {
      await other.close();
    }
  });

  it('fails when nothing listens (firewall / nginx down)', async () => {
    const closed = await freePort();
    const e = await preflightError({ domains: ['registry.example.com'], challengeStore: store, httpPort: closed, resolver: resolveTo('127.0.0.1') });
    assert.match(e.message, new RegExp(`cannot connect to 127\\.0\\.0\\.1:${closed} for http://registry\\.example\\.com:${closed}/.*\\(ECONNREFUSED\\): check that port ${closed} is open in the server's firewall`));
  });

  it('fails when another server answers with other content', async () => {
    const p = await freePort();
    const impostor = http.createServer((_req, res) => res.end('hello from a parked domain'));
    await new Promise<void>((r) => impostor.listen(p, '127.0.0.1', r));
    try {
      const e = await preflightError({ domains: ['registry.example.com'], challengeStore: store, httpPort: p, resolver: resolveTo('127.0.0.1') });
      assert.match(e.message, /answered with other content than the test token: another server answers for registry\.example\.com/);
    } finally {
      impostor.closeAllConnections();
      await new Promise((r) => impostor.close(r));
    }
  });

  it('fails when the token cannot be written', async () => {
    const broken: ChallengeStore = { put: async () => Promise.reject(new Error('EACCES: permission denied')), remove: async () => undefined };
    const e = await preflightError({ domains: ['registry.example.com'], challengeStore: broken, httpPort: port, resolver: resolveTo('127.0.0.1') });
    assert.match(e.message, /cannot write the test token into the webroot: EACCES/);
  });

  it('connects to connectTo instead of the resolved address, keeping the Host header', async () => {
    const seen: string[] = [];
    const p = await freePort();
    const srv = http.createServer((req, res) => {
      seen.push(req.headers.host ?? '');
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((r) => srv.listen(p, '127.0.0.1', r));
    try {
      // resolves to an unroutable documentation address; the check goes to 127.0.0.1:<p> anyway
      const report = await runPreflight({ domains: ['registry.example.com'], challengeStore: store, httpPort: port, connectTo: `127.0.0.1:${port}`, resolver: resolveTo('192.0.2.1') });
      assert.equal(report.checks.every((c) => c.ok), true);
      await preflightError({ domains: ['registry.example.com'], challengeStore: store, connectTo: `127.0.0.1:${p}`, resolver: resolveTo('192.0.2.1') });
      assert.deepEqual(seen, ['registry.example.com'], 'Host is the domain (port 80 omitted)');
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });

  it('only warns when an IPv6 address does not connect but IPv4 works', async () => {
    const report = await runPreflight({
      domains: ['registry.example.com'], challengeStore: store, httpPort: port,
      resolver: async () => [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }],
    });
    assert.equal(report.warnings.length, 1, JSON.stringify(report.checks));
    assert.match(report.warnings[0]!, /\[::1\]:\d+/);
  });

  it('checks every domain and lists every failure', async () => {
    const e = await preflightError({
      domains: ['ok.example.com', 'missing.example.com'], challengeStore: store, httpPort: port,
      resolver: async (name) => (name === 'ok.example.com' ? [{ address: '127.0.0.1', family: 4 }] : []),
    });
    assert.deepEqual(e.failures.map((f) => [f.check, f.domain]), [['dns', 'missing.example.com']]);
  });
});
