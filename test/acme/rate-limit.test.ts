// The HTTP policy against a scripted ACME server (plain HTTP; acme-client's JWS is not checked):
// a 429 is reported at once with its Retry-After and remembered, 5xx is retried briefly, an
// unreachable server fails fast.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { AcmeRateLimitError, AcmeServerError, LocalAcmeStateStore, LocalChallengeStore, obtainOrRenew, type ObtainOptions } from '../../src/acme/index.js';
import acme from 'acme-client';
import { ACME_REQUEST_TIMEOUT_MS, installAcmeHttpPolicy } from '../../src/acme/http-policy.js';
import { freePort } from '../helpers/net.js';
import { TempDirs } from '../helpers/tmp.js';

interface Script {
  /** answers to POST /order, in turn (the last one repeats) */
  order: Array<{ status: number; headers?: Record<string, string>; body?: unknown }>;
  /** how many times GET /dir answers 503 before 200 */
  directoryFailures: number;
}

describe('ACME HTTP policy', () => {
  const tmp = new TempDirs();
  let server: http.Server;
  let base: string;
  let script: Script;
  let log: string[];

  before(async () => {
    server = http.createServer((req, res) => {
      log.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => {
        const nonce = randomBytes(8).toString('hex');
        const json = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
          res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json', 'replay-nonce': nonce, ...headers });
          res.end(JSON.stringify(body));
        };
        if (req.url === '/dir') {
          if (script.directoryFailures > 0) {
            script.directoryFailures--;
            return json(503, { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'maintenance' });
          }
          return json(200, { newNonce: `${base}/nonce`, newAccount: `${base}/acct`, newOrder: `${base}/order` });
        }
        if (req.url === '/nonce') return json(200, {});
        if (req.url === '/acct') return json(201, { status: 'valid' }, { location: `${base}/acct/1` });
        if (req.url === '/order') {
          const answer = script.order.length > 1 ? script.order.shift()! : script.order[0]!;
          return json(answer.status, answer.body ?? {}, answer.headers);
        }
        json(404, { detail: 'no such resource' });
      });
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await tmp.cleanup();
  });
  beforeEach(() => {
    log = [];
    script = { order: [], directoryFailures: 0 };
  });

  const rateLimited = (headers: Record<string, string>) => ({
    status: 429,
    headers,
    body: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s' },
  });

  async function options(): Promise<ObtainOptions & { stateStore: LocalAcmeStateStore }> {
    const root = await tmp.make('rs-acme-ratelimit-');
    return {
      directoryUrl: `${base}/dir`,
      email: 'ops@example.com',
      domains: ['registry.example.com'],
      challengeStore: new LocalChallengeStore(join(root, 'webroot')),
      stateStore: new LocalAcmeStateStore({ acmeDir: join(root, 'acme'), tlsDir: join(root, 'tls') }),
      preflight: false,
    };
  }

  it('reports a 429 with its Retry-After at once, records it, and does not call again before then', async () => {
    script.order = [rateLimited({ 'retry-after': '3600' })];
    const opts = await options();
    const started = Date.now();
    let err: AcmeRateLimitError | undefined;
    await assert.rejects(obtainOrRenew(opts), (e: Error) => {
      assert.ok(e instanceof AcmeRateLimitError, e.stack);
      err = e;
      return true;
    });
    assert.ok(Date.now() - started < 5_000, 'no sleeping on Retry-After');
    assert.equal(log.filter((l) => l === 'POST /order').length, 1, 'one order attempt');
    assert.ok(err!.retryAfter);
    assert.ok(Math.abs(err!.retryAfter.getTime() - (started + 3_600_000)) < 10_000);
    assert.equal(err!.url, `${base}/order`);
    assert.match(err!.message, /^rate limited by the ACME server \(HTTP 429\): too many certificates \(5\) already issued .*; retry after \d{4}-\d\d-\d\dT/);
    const state = await opts.stateStore.readRenewalState();
    assert.equal(state?.lastResult, 'failed');
    assert.deepEqual(state?.rateLimit, { directoryUrl: `${base}/dir`, detail: err!.detail, retryAfter: err!.retryAfter.toISOString() });

    // the next run (say, the timer 12 hours earlier than Retry-After) does not contact the CA at all
    log = [];
    await assert.rejects(obtainOrRenew(opts), (e: Error) => e instanceof AcmeRateLimitError && e.remembered && /^still rate limited by the ACME server \(not contacted\)/.test(e.message));
    assert.deepEqual(log, []);
    assert.ok((await opts.stateStore.readRenewalState())?.rateLimit, 'still remembered');

    // once Retry-After has passed, it tries again
    await assert.rejects(obtainOrRenew({ ...opts, now: new Date(started + 3_700_000) }), (e: Error) => e instanceof AcmeRateLimitError && !e.remembered);
    assert.equal(log.filter((l) => l === 'POST /order').length, 1);

    // --force does not wait either
    log = [];
    await assert.rejects(obtainOrRenew({ ...opts, force: true }), AcmeRateLimitError);
    assert.equal(log.filter((l) => l === 'POST /order').length, 1);
  });

  it('understands an HTTP-date Retry-After, and a 429 without one', async () => {
    const when = new Date(Date.now() + 7_200_000);
    when.setMilliseconds(0);
    script.order = [rateLimited({ 'retry-after': when.toUTCString() }), rateLimited({})];
    const opts = await options();
    await assert.rejects(obtainOrRenew(opts), (e: Error) => e instanceof AcmeRateLimitError && e.retryAfter?.getTime() === when.getTime());
    const opts2 = await options();
    await assert.rejects(obtainOrRenew(opts2), (e: Error) => e instanceof AcmeRateLimitError && e.retryAfter === undefined && /no Retry-After given/.test(e.message));
  });

  it('every request to the CA has a deadline (a connection that never answers cannot hold the unit forever)', () => {
    installAcmeHttpPolicy();
    assert.equal(acme.axios.defaults.timeout, ACME_REQUEST_TIMEOUT_MS);
    assert.ok(ACME_REQUEST_TIMEOUT_MS > 0 && ACME_REQUEST_TIMEOUT_MS <= 120_000);
  });

  it('retries a 503 briefly, then goes on', async () => {
    script.directoryFailures = 1;
    script.order = [rateLimited({ 'retry-after': '1' })]; // ends the run after the directory worked
    await assert.rejects(obtainOrRenew(await options()), AcmeRateLimitError);
    assert.equal(log.filter((l) => l === 'GET /dir').length, 2);
  });

  it('gives up on a server that keeps failing, with its answer', async () => {
    script.directoryFailures = 10;
    await assert.rejects(obtainOrRenew(await options()), /ACME directory returned error 503/);
    assert.equal(log.filter((l) => l === 'GET /dir').length, 3, 'first try + 2 retries');
  });

  it('fails fast when the ACME server cannot be reached', async () => {
    const closed = await freePort();
    const started = Date.now();
    await assert.rejects(
      obtainOrRenew({ ...(await options()), directoryUrl: `http://127.0.0.1:${closed}/dir` }),
      (e: Error) => e instanceof AcmeServerError && new RegExp(`^cannot reach the ACME server at http://127\\.0\\.0\\.1:${closed}/dir: ECONNREFUSED .*check the directory URL`).test(e.message),
    );
    assert.ok(Date.now() - started < 5_000);
  });
});
