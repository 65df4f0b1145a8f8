// CI tokens (`serve --tokens`): the file format, tokens as passwords limited to their scope and
// intersected with the access policy, expiry with a 401 that says so, and revocation by replacing
// the file (effective within 2 s, no restart).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { CiTokenError, parseCiTokens } from '../../src/registry/auth/ci-tokens.js';
import { ConfigError } from '../../src/registry/config.js';
import { configFromFlags } from '../../src/registry/serve-command.js';
import { errorCode, pushImage, startTestRegistry, type TestInit, type TestRegistry } from './harness.js';

const sha = (secret: string) => createHash('sha256').update(secret).digest('hex');
const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const as = (reg: TestRegistry, headers: Record<string, string>): TestRegistry => ({
  ...reg,
  fetch: (p: string, init: TestInit = {}) => reg.fetch(p, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } }),
});
function replaceAtomically(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

interface TokenSpec {
  name: string;
  secret: string;
  repositories: string[];
  actions: string[];
  expires?: string;
}
const tokensYaml = (tokens: TokenSpec[]) =>
  `tokens:\n${tokens
    .map(
      (t) =>
        `  - name: ${t.name}\n    sha256: ${sha(t.secret)}\n    repositories: ${JSON.stringify(t.repositories)}\n    actions: [${t.actions.join(', ')}]\n${t.expires ? `    expires: ${t.expires}\n` : ''}    created: 2026-12-06T20:00:00Z\n`,
    )
    .join('')}`;

describe('tokens file format', () => {
  it('parses names, hashes, scopes and expiry; errors name the line', () => {
    const tokens = parseCiTokens(tokensYaml([{ name: 'ci-app', secret: 's3cret', repositories: ['app/**'], actions: ['read', 'create'], expires: '2027-03-06T00:00:00Z' }]));
    assert.equal(tokens.size, 1);
    assert.deepEqual(tokens.check('ci-app', 's3cret', Date.parse('2027-01-01')), { ok: true, token: tokens.get('ci-app') });
    assert.equal(tokens.check('ci-app', 'nope').ok, false);
    const expired = tokens.check('ci-app', 's3cret', Date.parse('2027-03-06T00:00:01Z'));
    assert.equal(!expired.ok && expired.reason, 'expired');
    assert.equal(parseCiTokens('').size, 0);
    assert.equal(parseCiTokens('tokens: []\n').size, 0);
    const cases: [string, RegExp][] = [
      ['tokens:\n  - name: a\n    sha256: abc\n    repositories: ["x"]\n    actions: [read]\n', /^t line 3: token "a": sha256 must be 64/],
      [`tokens:\n  - name: a\n    sha256: ${sha('x')}\n    repositories: ["x["]\n    actions: [read]\n`, /^t line 4: token "a": "\[" without "\]"/],
      [`tokens:\n  - name: a\n    sha256: ${sha('x')}\n    repositories: ["x"]\n    actions: [push]\n`, /^t line 5: token "a": unknown action "push"/],
      [`tokens:\n  - name: a\n    sha256: ${sha('x')}\n    repositories: []\n    actions: [read]\n`, /token "a": repositories must be a non-empty list/],
      [`tokens:\n  - name: a\n    sha256: ${sha('x')}\n    repositories: ["x"]\n    actions: [read]\n    expires: soon\n`, /^t line 6: token "a": expires must be an RFC 3339 time/],
      [`tokens:\n  - name: a\n    sha256: ${sha('x')}\n    repositories: ["x"]\n    actions: [read]\n    scope: all\n`, /^t line 6: unknown key "scope"/],
      [`tokens:\n  - {name: a, sha256: ${sha('x')}, repositories: [x], actions: [read]}\n  - {name: a, sha256: ${sha('y')}, repositories: [x], actions: [read]}\n`, /token "a" is listed twice/],
      ['users: []\n', /^t line 1: unknown key "users"/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseCiTokens(text, 't'), (e: Error) => e instanceof CiTokenError && message.test(e.message), text);
    }
  });

  it('--tokens and REGISTRY_AUTH_TOKENS_PATH; --tokens needs --htpasswd', () => {
    assert.equal(configFromFlags({ htpasswd: 'h', tokens: 't.yaml' }, {}).tokensFile, 't.yaml');
    assert.equal(configFromFlags({ htpasswd: 'h' }, { REGISTRY_AUTH_TOKENS_PATH: '/auth/tokens' }).tokensFile, '/auth/tokens');
    assert.throws(() => configFromFlags({ tokens: 't.yaml' }, {}), (e: Error) => e instanceof ConfigError && /--tokens needs --htpasswd/.test(e.message));
  });
});

describe('serve --tokens', () => {
  let dir: string;
  let tokensFile: string;
  let reg: TestRegistry;
  const appSecret = `rst_${randomBytes(32).toString('base64url')}`;
  const oldSecret = `rst_${randomBytes(32).toString('base64url')}`;
  const tokens: TokenSpec[] = [
    { name: 'ci-app', secret: appSecret, repositories: ['app/**'], actions: ['read', 'create'] },
    { name: 'ci-old', secret: oldSecret, repositories: ['**'], actions: ['read', 'create'], expires: '2020-01-01T00:00:00Z' },
  ];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rs-tokens-'));
    writeFileSync(path.join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('alice-pw', 5)}\n`);
    // the policy lets every signed-in name create anywhere and read everything, except locked/**
    writeFileSync(path.join(dir, 'access.yaml'), 'repositories:\n  "**":\n    defaultPolicy: [read, create]\n  "app/locked":\n    policies:\n      - users: [alice]\n        actions: [read, create]\n');
    tokensFile = path.join(dir, 'tokens.yaml');
    writeFileSync(tokensFile, tokensYaml(tokens), { mode: 0o600 });
    reg = await startTestRegistry({ htpasswd: path.join(dir, 'htpasswd'), accessFile: path.join(dir, 'access.yaml'), tokensFile });
  });
  after(async () => {
    await reg.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a token works as a password within its scope; outside it (repository or action) it is DENIED even where the policy allows', async () => {
    const ci = as(reg, basic('ci-app', appSecret));
    assert.equal((await ci.fetch('/v2/')).status, 200);
    const img = await pushImage(ci, 'app/web', 'v1');
    assert.equal((await ci.fetch('/v2/app/web/manifests/v1', { method: 'HEAD' })).status, 200);
    const outside = await ci.fetch('/v2/other/x/blobs/uploads/', { method: 'POST' });
    assert.equal(outside.status, 403, 'outside the scope, although the policy gives create on **');
    assert.equal(await errorCode(outside), 'DENIED');
    assert.equal((await ci.fetch(`/v2/app/web/manifests/${img.digest}`, { method: 'DELETE' })).status, 403, 'delete is not in the scope');
    // the policy still applies inside the scope: app/locked is alice's
    assert.equal((await ci.fetch('/v2/app/locked/blobs/uploads/', { method: 'POST' })).status, 403);
    assert.ok(reg.logs.some((l) => /denied user "ci-app" create on other\/x: the scope of token ci-app \(app\/\*\*: read, create\)/.test(l)), reg.logs.join('\n'));
    // the catalog shows only what both allow
    const catalog = (await (await ci.fetch('/v2/_catalog')).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['app/web']);
    // a wrong secret is a plain 401
    const wrong = await reg.fetch('/v2/', { headers: basic('ci-app', `${appSecret}x`) });
    assert.equal(wrong.status, 401);
  });

  it('an expired token gets 401 with a body that says it expired, also at the token endpoint', async () => {
    for (const p of ['/v2/', '/v2/app/web/tags/list']) {
      const res = await reg.fetch(p, { headers: basic('ci-old', oldSecret) });
      assert.equal(res.status, 401);
      const body = (await res.json()) as { errors: { code: string; message: string }[] };
      assert.equal(body.errors[0]!.code, 'UNAUTHORIZED');
      assert.match(body.errors[0]!.message, /^token ci-old expired at 2020-01-01T00:00:00\.000Z; create a new one$/);
    }
  });

  it('revocation: replacing the file without the token refuses it within 2 s, its bearer tokens too', async () => {
    const ci = as(reg, basic('ci-app', appSecret));
    const token = ((await (await ci.fetch('/v2/token')).json()) as { token: string }).token;
    assert.equal((await reg.fetch('/v2/app/web/tags/list', { headers: { Authorization: `Bearer ${token}` } })).status, 200);
    const start = Date.now();
    replaceAtomically(tokensFile, tokensYaml(tokens.filter((t) => t.name !== 'ci-app')));
    let status = 0;
    while (Date.now() - start < 2000) {
      status = (await ci.fetch('/v2/')).status;
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const took = Date.now() - start;
    assert.equal(status, 401, `still accepted after ${took} ms; log: ${reg.logs.slice(-3).join(' | ')}`);
    assert.ok(took < 2000);
    assert.equal((await reg.fetch('/v2/', { headers: { Authorization: `Bearer ${token}` } })).status, 401, 'its bearer token ended too');
    assert.ok(reg.logs.some((l) => l.includes('tokens reloaded: 1 token(s)')));
    // htpasswd users are not affected
    assert.equal((await reg.fetch('/v2/', { headers: basic('alice', 'alice-pw') })).status, 200);
  });
});

describe('serve --tokens without --access', () => {
  it('the scope alone limits a token; htpasswd users may do everything as before', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-tokens-only-'));
    const secret = `rst_${randomBytes(32).toString('base64url')}`;
    writeFileSync(path.join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('alice-pw', 5)}\n`);
    writeFileSync(path.join(dir, 'tokens.yaml'), tokensYaml([{ name: 'reader', secret, repositories: ['app/*'], actions: ['read'] }]));
    const reg = await startTestRegistry({ htpasswd: path.join(dir, 'htpasswd'), tokensFile: path.join(dir, 'tokens.yaml') });
    try {
      await pushImage(as(reg, basic('alice', 'alice-pw')), 'app/web', 'v1');
      await pushImage(as(reg, basic('alice', 'alice-pw')), 'app/web/deep', 'v1');
      const reader = as(reg, basic('reader', secret));
      assert.equal((await reader.fetch('/v2/app/web/manifests/v1', { method: 'HEAD' })).status, 200);
      assert.equal((await reader.fetch('/v2/app/web/deep/manifests/v1', { method: 'HEAD' })).status, 403, 'app/* is one level');
      assert.equal((await reader.fetch('/v2/app/web/blobs/uploads/', { method: 'POST' })).status, 403);
    } finally {
      await reg.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('serve --tokens-usage', () => {
  it('records when each token last signed in, written at shutdown, kept across restarts', async () => {
    assert.throws(() => configFromFlags({ htpasswd: 'h', tokensUsage: 'u.json' }, {}), (e: Error) => e instanceof ConfigError && /--tokens-usage needs --tokens/.test(e.message));
    assert.equal(configFromFlags({ htpasswd: 'h', tokens: 't' }, { REGISTRY_AUTH_TOKENS_USAGEPATH: '/state/u.json' }).tokensUsageFile, '/state/u.json');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-tokens-usage-'));
    const used = `rst_${randomBytes(32).toString('base64url')}`;
    const unused = `rst_${randomBytes(32).toString('base64url')}`;
    writeFileSync(path.join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('alice-pw', 5)}\n`);
    writeFileSync(
      path.join(dir, 'tokens.yaml'),
      tokensYaml([
        { name: 'used', secret: used, repositories: ['**'], actions: ['read'] },
        { name: 'unused', secret: unused, repositories: ['**'], actions: ['read'] },
      ]),
    );
    const usageFile = path.join(dir, 'state', 'tokens-used.json');
    mkdirSync(path.dirname(usageFile));
    const settings = { htpasswd: path.join(dir, 'htpasswd'), tokensFile: path.join(dir, 'tokens.yaml'), tokensUsageFile: usageFile, dataDir: path.join(dir, 'data') };
    try {
      const before = Date.now();
      let reg = await startTestRegistry(settings);
      assert.equal((await reg.fetch('/v2/', { headers: basic('used', used) })).status, 200);
      assert.equal((await reg.fetch('/v2/', { headers: basic('alice', 'alice-pw') })).status, 200);
      await reg.close();
      const first = JSON.parse(readFileSync(usageFile, 'utf8')) as Record<string, string>;
      assert.deepEqual(Object.keys(first), ['used'], 'only tokens that signed in, no htpasswd users');
      assert.ok(Date.parse(first.used!) >= before && Date.parse(first.used!) <= Date.now());
      // after a restart, what was recorded before stays next to the new sign-ins
      reg = await startTestRegistry(settings);
      assert.equal((await reg.fetch('/v2/', { headers: basic('unused', unused) })).status, 200);
      await reg.close();
      const second = JSON.parse(readFileSync(usageFile, 'utf8')) as Record<string, string>;
      assert.deepEqual(Object.keys(second), ['unused', 'used']);
      assert.equal(second.used, first.used);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
