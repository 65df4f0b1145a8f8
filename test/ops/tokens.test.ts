// tokens create/list/revoke without a host: what create accepts, that the file it writes is the
// registry's format and lets the secret (only the secret) sign in until it expires, and list's rows.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCiTokens } from '../../src/registry/auth/ci-tokens.js';
import {
  checkTokenRequest,
  formatTokenRows,
  generateTokenSecret,
  latestUse,
  parseTokenEntries,
  parseTokenUsage,
  renderTokenEntries,
  requireTokensFile,
  tokenEntry,
  tokenRows,
  TokensError,
} from '../../src/ops/tokens.js';
import { EMPTY_TOKENS_FILE } from '../../src/provision/access-control.js';
import type { Deployment } from '../../src/ops/deployment.js';

const NOW = Date.parse('2026-12-06T20:00:00Z');

describe('tokens create', () => {
  test('a request is checked, and --expires 90d is 90 days from now', () => {
    assert.deepEqual(checkTokenRequest({ name: 'ci-app', repos: 'app/**, tools/*', actions: 'read,create', expires: '90d' }, NOW), {
      name: 'ci-app',
      repositories: ['app/**', 'tools/*'],
      actions: ['read', 'create'],
      expires: '2027-03-06T20:00:00Z',
    });
    assert.equal(checkTokenRequest({ name: 'x', repos: 'a', actions: 'read', expires: 'never' }, NOW).expires, undefined);
    assert.equal(checkTokenRequest({ name: 'x', repos: 'a', actions: 'read', expires: '12h' }, NOW).expires, '2026-12-07T08:00:00Z');
    assert.throws(() => checkTokenRequest({ name: 'x', repos: 'a', actions: 'read,push', expires: '90d' }, NOW), /--actions: unknown action "push"/);
    assert.throws(() => checkTokenRequest({ name: 'x', repos: 'a{b', actions: 'read', expires: '90d' }, NOW), /--repos a\{b: /);
    assert.throws(() => checkTokenRequest({ name: 'x', repos: 'a', actions: 'read', expires: '2020-01-01T00:00:00Z' }, NOW), /in the past/);
    assert.throws(() => checkTokenRequest({ name: 'x', repos: 'a', actions: 'read', expires: 'soon' }, NOW), /give a duration like 90d/);
    assert.throws(() => checkTokenRequest({ name: 'bad name', repos: 'a', actions: 'read', expires: '90d' }, NOW), /token name "bad name"/);
  });

  test('the file holds only the hash; the registry accepts the secret, refuses others, and tells an expired token apart', () => {
    const secret = generateTokenSecret();
    assert.ok(secret.length >= 43);
    const entry = tokenEntry(checkTokenRequest({ name: 'ci-app', repos: 'app/**', actions: 'read,create', expires: '90d' }, NOW), secret, NOW);
    const text = renderTokenEntries([entry]);
    assert.ok(!text.includes(secret), 'the secret is never written');
    const registry = parseCiTokens(text);
    assert.equal(registry.check('ci-app', secret, NOW).ok, true);
    assert.equal(registry.check('ci-app', `${secret}x`, NOW).ok, false);
    assert.deepEqual(registry.check('ci-app', secret, Date.parse('2027-03-07T00:00:00Z')).ok, false);
    assert.equal((registry.check('ci-app', secret, Date.parse('2027-03-07T00:00:00Z')) as { reason: string }).reason, 'expired');
    // read back, unchanged: revoke rewrites the others as they were
    assert.deepEqual(parseTokenEntries(text, 't'), [entry]);
    assert.equal(renderTokenEntries([]), EMPTY_TOKENS_FILE);
    assert.deepEqual(parseTokenEntries(EMPTY_TOKENS_FILE, 't'), []);
    assert.throws(() => parseTokenEntries('tokens:\n  - name: x\n', 'h:/auth/tokens.yaml'), (err: Error) => err instanceof TokensError && /^h:\/auth\/tokens.yaml line 2: .*sha256/.test(err.message));
  });
});

describe('tokens list', () => {
  test('name, scope, expiry (expired said), last use over every host', () => {
    const a = tokenEntry({ name: 'ci-app', repositories: ['app/**'], actions: ['read', 'create'], expires: '2027-03-06T20:00:00Z' }, 's1', NOW);
    const b = tokenEntry({ name: 'old', repositories: ['x/*'], actions: ['read'], expires: '2026-12-01T00:00:00Z' }, 's2', NOW);
    const usage = latestUse([parseTokenUsage(Buffer.from('{"ci-app":"2026-12-06T19:00:00.000Z"}')), parseTokenUsage(Buffer.from('{"ci-app":"2026-12-06T19:30:00.000Z"}')), parseTokenUsage(Buffer.from('not json'))]);
    const rows = tokenRows([a, b], usage, NOW);
    assert.deepEqual(rows, [
      { name: 'ci-app', scope: 'app/**: read, create', expires: '2027-03-06T20:00:00Z', expired: false, lastUsed: '2026-12-06T19:30:00.000Z' },
      { name: 'old', scope: 'x/*: read', expires: '2026-12-01T00:00:00Z', expired: true, lastUsed: null },
    ]);
    const text = formatTokenRows(rows);
    assert.match(text, /^NAME\s+SCOPE\s+EXPIRES\s+LAST USED\n/);
    assert.match(text, /^old\s+x\/\*: read\s+2026-12-01T00:00:00Z \(expired\)\s+never$/m);
  });
});

describe('tokens create without access:', () => {
  // a deployment is only asked for its tokens file: every deployment by this version has one
  const deployment = (file: Buffer | null) => {
    const read: string[] = [];
    const d = { hostName: 'reg-1', path: (rel: string) => `/opt/registry-setup/${rel}`, host: { readFile: async (p: string) => (read.push(p), file) } };
    return { d: d as unknown as Deployment, read };
  };

  test('works on any deployment that has the tokens file (policy or not); an older one is told to deploy once', async () => {
    const ok = deployment(Buffer.from(EMPTY_TOKENS_FILE));
    await requireTokensFile(ok.d);
    assert.deepEqual(ok.read, ['/opt/registry-setup/auth/tokens.yaml']);
    await assert.rejects(requireTokensFile(deployment(null).d), (err: Error) => {
      assert.ok(err instanceof TokensError);
      assert.match(err.message, /^reg-1 has no CI tokens file yet \(deployed by an older registry-setup, whose registry reads tokens only with access:\): run registry-setup deploy once, then create tokens$/);
      return true;
    });
  });
});
