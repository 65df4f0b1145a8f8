// The access policy as a pure module: zot's glob semantics (doublestar), checked against zot's and
// doublestar's documented examples and, property-style, against a plain reference matcher on
// random globs and names; then parsing (errors name the line) and decisions (longest glob wins).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob, GlobError } from '../../src/registry/auth/glob.js';
import { AccessPolicy, AccessPolicyError, parseAccessPolicy, type Action } from '../../src/registry/auth/access-policy.js';

/** A small seeded generator, so a failure names a case that can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(rnd: () => number, items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;

/** Random repository names over a small alphabet, so that globs hit and miss often. */
function randomName(rnd: () => number): string {
  const parts = 1 + Math.floor(rnd() * 4);
  return Array.from({ length: parts }, () => Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(rnd, ['a', 'b', 'c'])).join('')).join('/');
}

/**
 * The reference: doublestar's rules written the plain way, component by component (`**` alone
 * is zero or more components; inside a component `*` is any run and `?` one character).
 */
function referenceMatch(glob: string, name: string): boolean {
  const g = glob.split('/');
  const n = name.split('/');
  const component = (p: string, s: string): boolean => {
    if (p === '') return s === '';
    if (p[0] === '*') return component(p.slice(1), s) || (s !== '' && component(p, s.slice(1)));
    if (s === '') return false;
    return (p[0] === '?' || p[0] === s[0]) && component(p.slice(1), s.slice(1));
  };
  const walk = (i: number, j: number): boolean => {
    if (i === g.length) return j === n.length;
    if (g[i] === '**') return walk(i + 1, j) || (j < n.length && walk(i, j + 1));
    return j < n.length && component(g[i]!, n[j]!) && walk(i + 1, j + 1);
  };
  return walk(0, 0);
}

function randomGlob(rnd: () => number): string {
  const parts = 1 + Math.floor(rnd() * 4);
  return Array.from({ length: parts }, () => {
    if (rnd() < 0.25) return '**';
    return Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(rnd, ['a', 'b', 'c', '*', '?'])).join('');
  }).join('/');
}

describe('repository globs (zot = doublestar)', () => {
  it('zot documented examples: ** matches all, tmp/** recursively, infra/* one level, repos2/repo itself', () => {
    const rnd = random(19);
    const all = compileGlob('**');
    const tmp = compileGlob('tmp/**');
    const infra = compileGlob('infra/*');
    const exact = compileGlob('repos2/repo');
    for (let i = 0; i < 500; i++) {
      const tail = randomName(rnd);
      assert.ok(all.matches(tail), `** ${tail}`);
      assert.ok(tmp.matches(`tmp/${tail}`), `tmp/** tmp/${tail}`);
      assert.equal(tmp.matches(`tmpx/${tail}`), false);
      assert.equal(infra.matches(`infra/${tail}`), !tail.includes('/'), `infra/* infra/${tail}`);
      assert.equal(exact.matches(tail), false);
    }
    assert.ok(tmp.matches('tmp/infra/repo'));
    assert.ok(tmp.matches('tmp'), 'a/** matches a itself (doublestar v4)');
    assert.ok(exact.matches('repos2/repo'));
    assert.equal(exact.matches('repos2/repo/x'), false);
  });

  it("doublestar's own examples", () => {
    const cases: [string, string, boolean][] = [
      ['*', 'abc', true], ['*c', 'abc', true], ['a*', 'a', true], ['a*', 'ab/c', false], ['a*/b', 'abc/b', true], ['a*/b', 'a/c/b', false],
      ['a*b?c*x', 'abxbbxdbxebxczzx', true], ['a*b?c*x', 'abxbbxdbxebxczzy', false], ['ab[c]', 'abc', true], ['ab[b-d]', 'abc', true],
      ['ab[e-g]', 'abc', false], ['ab[^c]', 'abc', false], ['ab[^e-g]', 'abc', true], ['a[!a]b', 'axb', true], ['a\\*b', 'ab', false],
      ['a\\*b', 'a*b', true], ['a?b', 'a/b', false], ['a*b', 'a/b', false], ['[x-]', '-', true], ['[-x]', 'x', true],
      ['a/**', 'a', true], ['a/**', 'a/b', true], ['a/**', 'a/b/c', true], ['**/c', 'c', true], ['**/c', 'b/c', true], ['**/c', 'a/b/c', true],
      ['**/c', 'a/b', false], ['**/c', 'abcd', false], ['**/c', 'a/abc', false], ['a/**/b', 'a/b', true], ['a/**/c', 'a/b/c', true],
      ['a/**/d', 'a/b/c/d', true], ['a/\\**', 'a/b/c', false], ['ab{c,d}', 'abc', true], ['ab{c,d,*}', 'abcde', true], ['a{,bc}', 'a', true],
      ['a{,bc}', 'abc', true], ['a/{b/c,c/b}', 'a/c/b', true], ['{a/{b,c},abc}', 'a/b', true], ['{a/{b,c},abc}', 'abc', true],
      ['{a/{b,c},abc}', 'a/b/c', false], ['abc/**', 'abc/b', true], ['**/abc', 'abc', true], ['abc**', 'abc/b', false], ['abc**', 'abc', true],
    ];
    for (const [glob, name, want] of cases) assert.equal(compileGlob(glob).matches(name), want, `${glob} ~ ${name}`);
  });

  it('malformed globs are errors, not silent non-matches', () => {
    for (const glob of ['[', 'a[', '[^bc', '\\', 'a\\', '{a', 'a}', '[]a]', '']) {
      assert.throws(() => compileGlob(glob), GlobError, glob);
    }
  });

  it('property: the compiled matcher agrees with the plain reference on 3000 random globs and names', () => {
    const rnd = random(2026);
    for (let i = 0; i < 3000; i++) {
      const glob = randomGlob(rnd);
      const name = randomName(rnd);
      assert.equal(compileGlob(glob).matches(name), referenceMatch(glob, name), `seed 2026 case ${i}: ${glob} ~ ${name}`);
    }
  });
});

/** zot's documented accessControl example, in YAML. */
const ZOT_EXAMPLE = `
accessControl:
  groups:
    group1:
      users: [jack, john, jane, ana]
    group2:
      users: [alice, mike, jim]
  repositories:
    "**":
      policies:
        - users: [charlie]
          actions: [read, create, update]
      defaultPolicy: [read, create, delete, detectManifestCollision]
      anonymousPolicy: [read]
    "tmp/**":
      defaultPolicy: [read, create, update]
    "infra/*":
      policies:
        - users: [alice, bob]
          actions: [create, read, update, delete]
        - users: [mallory]
          actions: [create, read]
      defaultPolicy: [read]
    "repos2/repo":
      policies:
        - users: [bob]
          groups: [group1]
          actions: [read, create]
        - users: [mallory]
          actions: [create, read]
      defaultPolicy: [read]
  adminPolicy:
    users: [admin]
    actions: [read, create, update, delete]
`;

describe('access policy decisions', () => {
  const policy = parseAccessPolicy(ZOT_EXAMPLE, 'access.yaml');
  const check = (who: string | null, repo: string, action: Action, allowed: boolean, rule?: RegExp) => {
    const d = policy.decide(who, repo, action);
    assert.equal(d.allowed, allowed, `${who ?? 'anonymous'} ${action} ${repo}: ${d.rule}`);
    if (rule) assert.match(d.rule, rule);
  };

  it("zot's example: the longest matching glob decides, then adminPolicy", () => {
    check('charlie', 'any/thing', 'update', true, /^repositories\["\*\*"\]\.policies\[0\] \(user charlie\)$/);
    check('charlie', 'any/thing', 'delete', true, /defaultPolicy/);
    check('eve', 'any/thing', 'update', false, /repositories\["\*\*"\] \(the longest matching glob\) gives user eve no update/);
    check(null, 'any/thing', 'read', true, /anonymousPolicy/);
    check(null, 'any/thing', 'create', false);
    // tmp/** is longer than **: no anonymous read there, no fallback to **
    check(null, 'tmp/infra/repo', 'read', false, /tmp\/\*\*/);
    check('eve', 'tmp/infra/repo', 'update', true);
    check('alice', 'infra/a', 'delete', true, /policies\[0\]/);
    check('mallory', 'infra/a', 'delete', false);
    check('eve', 'infra/a', 'create', false);
    check('eve', 'infra/a/b', 'create', true, /"\*\*"\]\.defaultPolicy/); // infra/* is one level only
    check('jack', 'repos2/repo', 'create', true, /policies\[0\] \(group group1\)/);
    check('jack', 'repos2/repo', 'update', false);
    check('admin', 'repos2/repo', 'delete', true, /^adminPolicy$/);
    check(null, 'repos2/repo', 'read', false);
    assert.ok(policy.allowsAnonymous);
  });

  it('no matching glob: only adminPolicy, and the reason says so', () => {
    const p = parseAccessPolicy('repositories:\n  "app/**":\n    defaultPolicy: [read]\nadminPolicy:\n  users: [root]\n  actions: [read]\n');
    assert.match(p.decide('eve', 'other', 'read').rule, /no repository glob matches "other"/);
    assert.equal(p.can('root', 'other', 'read'), true);
    assert.equal(p.can('root', 'other', 'create'), false);
    assert.equal(p.allowsAnonymous, false);
  });

  it('equal lengths: the first glob in the file decides; decisions are cached but stay right', () => {
    const p = parseAccessPolicy('repositories:\n  "a/*":\n    defaultPolicy: [read]\n  "*/b":\n    defaultPolicy: [create]\n');
    assert.equal(p.can('u', 'a/b', 'read'), true);
    assert.equal(p.can('u', 'a/b', 'create'), false);
    for (let i = 0; i < 3; i++) assert.equal(p.can('u', 'x/b', 'create'), true);
    assert.equal(AccessPolicy.denyAll().can('u', 'x/b', 'read'), false);
  });

  it('a bare block (without accessControl:) parses the same', () => {
    const bare = ZOT_EXAMPLE.replace(/^accessControl:\n/m, '').replace(/^ {2}/gm, '');
    const p = parseAccessPolicy(bare);
    assert.equal(p.can('jack', 'repos2/repo', 'create'), true);
    assert.equal(p.can(null, 'x', 'read'), true);
  });

  it('errors name the file, the line and the key', () => {
    const cases: [string, RegExp][] = [
      ['repositories:\n  "app/**":\n    defaultPolicy: [read, pull]\n', /^f\.yaml line 3: repositories\["app\/\*\*"\]\.defaultPolicy: unknown action "pull"/],
      ['repositories:\n  "app/[":\n    defaultPolicy: [read]\n', /^f\.yaml line 2: repositories\["app\/\["\]: "\[" without "\]"/],
      ['repositories:\n  "**":\n    defaultPolcy: [read]\n', /^f\.yaml line 3: .*unknown key "defaultPolcy"/],
      ['repositories:\n  "**":\n    policies:\n      - users: ci\n        actions: [read]\n', /^f\.yaml line 4: .*users must be a list/],
      ['"**":\n  defaultPolicy: [read]\n', /^f\.yaml line 1: "\*\*" looks like a repository glob: put it under repositories:/],
      ['groups:\n  g: {users: [a]}\n', /no repositories: section/],
      ['repositories: [\n', /^f\.yaml line \d+: not valid YAML/],
      ['', /is empty/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseAccessPolicy(text, 'f.yaml'), (err: Error) => err instanceof AccessPolicyError && message.test(err.message), text);
    }
  });
});
