// access show / access check from the host's files, by the registry's decision code: effective
// permissions per glob and principal (groups expanded, tokens within their scope), and the rule
// that decided a request.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkAccess, effectivePermissions, formatPermissions, parseHostAccess, unknownUserNote, AccessError } from '../../src/ops/access.js';

const POLICY = `groups:
  servers: { users: [web1, web2] }
repositories:
  "**":
    defaultPolicy: [read]
  "app/**":
    policies:
      - users: [ci-app]
        actions: [read, create]
      - groups: [servers]
        actions: [read]
  "public/**":
    anonymousPolicy: [read]
    defaultPolicy: [read]
adminPolicy:
  users: [admin]
  actions: [read, create, update, delete]
`;
const TOKENS = `tokens:
  - name: ci-app
    sha256: ${'a'.repeat(64)}
    repositories: ["app/web/**"]
    actions: [read, create]
`;
const host = () => parseHostAccess(POLICY, TOKENS, ['admin', 'web1', 'reader'], 'h:/opt/registry-setup');

describe('access show', () => {
  test('per glob, longest first: who may do what and by which rule; groups expanded; tokens with their scope', () => {
    const rows = effectivePermissions(host());
    const line = (glob: string | null, user: string | null) => rows.find((r) => r.glob === glob && r.user === user);
    assert.deepEqual([...new Set(rows.map((r) => r.glob))], ['public/**', 'app/**', '**']);
    assert.deepEqual(line('app/**', 'web2')?.actions, ['read'], 'web2 only through the group servers');
    assert.match(line('app/**', 'web2')!.rules[0]!, /policies\[1\] \(group servers\)/);
    assert.deepEqual(line('app/**', 'ci-app')?.kind, 'token');
    assert.deepEqual(line('app/**', 'ci-app')?.actions, ['read', 'create']);
    assert.equal(line('app/**', 'ci-app')?.scope, 'app/web/**: read, create');
    assert.equal(line('app/**', 'reader'), undefined, 'reader has nothing on app/** (no defaultPolicy there)');
    assert.equal(line('app/**', null), undefined);
    assert.deepEqual(line('public/**', null)?.actions, ['read']);
    assert.deepEqual(line('**', 'admin')?.actions, ['read', 'create', 'update', 'delete']);
    assert.deepEqual(line('**', 'admin')?.rules, ['repositories["**"].defaultPolicy', 'adminPolicy']);
    const text = formatPermissions(host(), rows);
    assert.match(text, /^"app\/\*\*"\n/m);
    assert.match(text, /^  ci-app \(token\)\s+read, create\s+\(repositories\["app\/\*\*"\]\.policies\[0\] \(user ci-app\)\) within the token's scope app\/web\/\*\*: read, create$/m);
    assert.doesNotMatch(text, /no glob matches/, '"**" matches every repository');
    const narrow = parseHostAccess(POLICY.replace('"**"', '"lib/**"'), null, ['admin'], 'h:/d');
    assert.match(formatPermissions(narrow, effectivePermissions(narrow)), /^\(repositories no glob matches\)\n  admin\s+read, create, update, delete\s+\(adminPolicy\)$/m);
  });

  test('without a policy file: says that everyone may do everything', () => {
    const none = parseHostAccess(null, null, ['admin'], 'h:/d');
    assert.deepEqual(effectivePermissions(none), []);
    assert.match(formatPermissions(none, []), /^no access policy: every signed-in user may do everything/);
  });

  test('a broken file on the host names the file and the line', () => {
    assert.throws(() => parseHostAccess('repositories:\n  "a/**":\n    defaultPolicy: [push]\n', null, [], 'h:/d'), (err: Error) => err instanceof AccessError && /^h:\/d\/auth\/access.yaml line 3: .*unknown action "push"/.test(err.message));
  });
});

describe('access check', () => {
  test('allowed or denied, and which rule decided', () => {
    const h = host();
    const ok = checkAccess(h, 'web1', 'app/api', 'read');
    assert.deepEqual([ok.allowed, ok.rule], [true, 'repositories["app/**"].policies[1] (group servers)']);
    const denied = checkAccess(h, 'web1', 'app/api', 'create');
    assert.deepEqual([denied.allowed, denied.rule], [false, 'repositories["app/**"] (the longest matching glob) gives user web1 no create']);
    assert.equal(checkAccess(h, 'admin', 'app/api', 'delete').rule, 'adminPolicy');
    assert.equal(checkAccess(h, '-', 'public/base', 'read').rule, 'repositories["public/**"].anonymousPolicy');
    assert.equal(checkAccess(h, 'anonymous', 'app/api', 'read').allowed, false);
    // a token: its scope first, then the policy
    assert.match(checkAccess(h, 'ci-app', 'app/api', 'create').rule, /^the scope of token ci-app \(app\/web\/\*\*: read, create\) has no create on app\/api$/);
    assert.deepEqual(checkAccess(h, 'ci-app', 'app/web/front', 'create').allowed, true);
  });

  test('bad input: one line saying what to give', () => {
    assert.throws(() => checkAccess(host(), 'web1', 'app/api', 'push'), /unknown action "push": give one of read, create, update, delete/);
    assert.throws(() => checkAccess(host(), 'web1', 'App/API', 'read'), /not a repository name/);
  });

  test('a name that cannot sign in is pointed out', () => {
    assert.match(unknownUserNote(host(), 'web2')!, /web2 is neither a registry user nor a CI token/);
    assert.equal(unknownUserNote(host(), 'ci-app'), undefined);
    assert.equal(unknownUserNote(host(), null), undefined);
  });
});
