// `serve --access`: the policy enforced on every registry route, the token endpoint that lets
// anonymous pulls and signed-in clients coexist, reloads of the policy file, and the UI's API.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { ConfigError } from '../../src/registry/config.js';
import { configFromFlags } from '../../src/registry/serve-command.js';
import { errorCode, pushBlob, pushImage, sha256, startTestRegistry, OCI_MANIFEST, type TestInit, type TestRegistry } from './harness.js';

const PASSWORDS: Record<string, string> = { admin: 'admin-pw', ci: 'ci-pw', server: 'server-pw', dev: 'dev-pw' };
const htpasswdLine = (user: string, password: string) => `${user}:${bcrypt.hashSync(password, 5)}\n`;
const basic = (user: string, password = PASSWORDS[user]!) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

const POLICY = `
# CI pushes app/** (no overwrites), servers and everyone signed in pull app/**, dev owns it;
# public/** is pulled without login; secret/** is dev's alone.
groups:
  servers:
    users: [server]
repositories:
  "app/**":
    policies:
      - users: [ci]
        actions: [read, create]
      - users: [dev]
        actions: [read, create, update, delete]
    defaultPolicy: [read]
  "public/**":
    policies:
      - users: [ci, dev]
        actions: [read, create, update]
    defaultPolicy: [read]
    anonymousPolicy: [read]
  "secret/**":
    policies:
      - users: [dev]
        actions: [read, create, delete]
adminPolicy:
  users: [admin]
  actions: [read, create, update, delete]
`;

function replaceAtomically(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

/** The registry seen by one caller: every request carries these headers (pushImage uses it). */
function as(reg: TestRegistry, headers: Record<string, string>): TestRegistry {
  return { ...reg, fetch: (p: string, init: TestInit = {}) => reg.fetch(p, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } }) };
}

async function until(what: string, reg: TestRegistry, check: () => Promise<boolean>, withinMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < withinMs) {
    if (await check()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`${what} not within ${withinMs} ms; log: ${reg.logs.slice(-5).join(' | ')}`);
}

describe('serve --access', () => {
  let dir: string;
  let accessFile: string;
  let htpasswd: string;
  let reg: TestRegistry;
  let anon: TestRegistry;
  let ci: TestRegistry;
  let server: TestRegistry;
  let dev: TestRegistry;
  let admin: TestRegistry;
  let appV1: { digest: string; bytes: Buffer; layers: string[]; config: string };
  let secretImg: { digest: string; bytes: Buffer; layers: string[]; config: string };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rs-access-'));
    htpasswd = path.join(dir, 'htpasswd');
    accessFile = path.join(dir, 'access.yaml');
    writeFileSync(htpasswd, Object.entries(PASSWORDS).map(([u, p]) => htpasswdLine(u, p)).join(''));
    writeFileSync(accessFile, POLICY);
    reg = await startTestRegistry({ htpasswd, accessFile, realm: 'Test Realm' });
    anon = reg;
    ci = as(reg, basic('ci'));
    server = as(reg, basic('server'));
    dev = as(reg, basic('dev'));
    admin = as(reg, basic('admin'));
    appV1 = await pushImage(ci, 'app/web', 'v1', { layers: ['app layer'] });
    secretImg = await pushImage(dev, 'secret/db', 'v1', { layers: ['secret layer'] });
    await pushImage(ci, 'public/base', 'latest', { layers: ['public layer'] });
  });
  after(async () => {
    await reg.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a read-only user pulls every way (manifest, blob, tags, referrers) and is DENIED every write, with nothing written', async () => {
    for (const [method, p] of [
      ['GET', '/v2/app/web/manifests/v1'],
      ['HEAD', `/v2/app/web/manifests/${appV1.digest}`],
      ['GET', `/v2/app/web/blobs/${appV1.layers[0]}`],
      ['GET', '/v2/app/web/tags/list'],
      ['GET', `/v2/app/web/referrers/${appV1.digest}`],
    ] as const) {
      assert.equal((await server.fetch(p, { method })).status, 200, `${method} ${p}`);
    }
    const before = await reg.listStored('repositories/app/web');
    const writes: [string, string, TestInit][] = [
      ['POST', '/v2/app/web/blobs/uploads/', {}],
      ['POST', `/v2/app/web/blobs/uploads/?digest=${sha256('x')}`, { body: 'x' }],
      ['PUT', '/v2/app/web/manifests/v2', { body: appV1.bytes, headers: { 'Content-Type': OCI_MANIFEST } }],
      ['DELETE', `/v2/app/web/manifests/${appV1.digest}`, {}],
      ['DELETE', '/v2/app/web/manifests/v1', {}],
      ['DELETE', `/v2/app/web/blobs/${appV1.layers[0]}`, {}],
      ['PATCH', '/v2/app/web/blobs/uploads/00000000-0000-4000-8000-000000000000', { body: 'x' }],
    ];
    for (const [method, p, init] of writes) {
      const res = await server.fetch(p, { ...init, method });
      assert.equal(res.status, 403, `${method} ${p}`);
      assert.match(res.statusText, /^Denied: requested access to the resource is denied/, 'for clients that print only the status line');
      const body = (await res.json()) as { errors: { code: string; message: string }[] };
      assert.equal(body.errors[0]!.code, 'DENIED');
      assert.match(body.errors[0]!.message, /denied/);
    }
    assert.deepEqual(await reg.listStored('repositories/app/web'), before, 'nothing was written');
    assert.equal((await server.fetch('/v2/app/web/manifests/v2', { method: 'HEAD' })).status, 404);
    assert.ok(reg.logs.some((l) => /access: denied user "server" create on app\/web: repositories\["app\/\*\*"\]/.test(l)), reg.logs.join('\n'));
  });

  it('without update a tag is immutable: moving it is DENIED, pushing it again unchanged and by digest are creates', async () => {
    const other = await pushImage(ci, 'app/web', 'v1-candidate', { layers: ['other layer'] });
    const move = await ci.fetch('/v2/app/web/manifests/v1', { method: 'PUT', body: other.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(move.status, 403);
    assert.equal(await errorCode(move), 'DENIED');
    const head = await ci.fetch('/v2/app/web/manifests/v1', { method: 'HEAD' });
    assert.equal(head.headers.get('docker-content-digest'), appV1.digest, 'the tag still names the first push');
    const again = await ci.fetch('/v2/app/web/manifests/v1', { method: 'PUT', body: appV1.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(again.status, 201, 'a repeated push of the same content is no update');
    const byDigest = await ci.fetch(`/v2/app/web/manifests/${other.digest}`, { method: 'PUT', body: other.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(byDigest.status, 201);
    // dev has update
    const moved = await dev.fetch('/v2/app/web/manifests/v1-candidate', { method: 'PUT', body: appV1.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(moved.status, 201);
  });

  it('an unreadable repository answers exactly like a missing one; anonymous callers get the challenge', async () => {
    const existing = await server.fetch('/v2/secret/db/manifests/v1');
    const missing = await server.fetch('/v2/secret/nothing/manifests/v1');
    assert.equal(existing.status, 403);
    assert.equal(missing.status, 403);
    const strip = (b: string) => b.replace(/secret\/(db|nothing)/g, 'secret/X');
    assert.equal(strip(await existing.text()), strip(await missing.text()));
    for (const p of ['/v2/secret/db/tags/list', '/v2/secret/nothing/tags/list', `/v2/secret/db/blobs/${secretImg.layers[0]}`]) {
      assert.equal((await server.fetch(p)).status, 403, p);
      const res = await anon.fetch(p);
      assert.equal(res.status, 401, p);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/v2\/token",service="Test Realm"$/);
    }
  });

  it('anonymous: pulls of public/** work without credentials (and with the empty ones skopeo sends); the rest challenges', async () => {
    const empty = { Authorization: `Basic ${Buffer.from(':').toString('base64')}` };
    for (const headers of [{}, empty]) {
      const m = await anon.fetch('/v2/public/base/manifests/latest', { headers });
      assert.equal(m.status, 200);
      assert.equal((await anon.fetch('/v2/public/base/tags/list', { headers })).status, 200);
    }
    const wrongPassword = await anon.fetch('/v2/public/base/manifests/latest', { headers: basic('ci', 'nope') });
    assert.equal(wrongPassword.status, 401, 'wrong credentials are not anonymous');
    const ping = await anon.fetch('/v2/');
    assert.equal(ping.status, 401, 'the ping always challenges, so that clients learn how to sign in');
    assert.match(ping.headers.get('www-authenticate') ?? '', /^Bearer /);
    for (const [method, p] of [
      ['POST', '/v2/public/base/blobs/uploads/'],
      ['PUT', '/v2/public/base/manifests/x'],
      ['DELETE', '/v2/public/base/manifests/latest'],
      ['GET', '/v2/app/web/manifests/v1'],
    ]) {
      const res = await anon.fetch(p!, { method });
      assert.equal(res.status, 401, `${method} ${p}`);
      assert.equal(await errorCode(res), 'UNAUTHORIZED');
    }
    const catalog = (await (await anon.fetch('/v2/_catalog')).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['public/base']);
  });

  it('the catalog lists only what the caller may read', async () => {
    const list = async (r: TestRegistry) => ((await (await r.fetch('/v2/_catalog')).json()) as { repositories: string[] }).repositories;
    assert.deepEqual(await list(server), ['app/web', 'public/base']);
    assert.deepEqual(await list(dev), ['app/web', 'public/base', 'secret/db']);
    assert.deepEqual(await list(admin), ['app/web', 'public/base', 'secret/db']);
    const page = await server.fetch('/v2/_catalog?n=1');
    assert.deepEqual(((await page.json()) as { repositories: string[] }).repositories, ['app/web']);
    assert.match(page.headers.get('link') ?? '', /last=app%2Fweb/);
  });

  it('a mount from a repository the caller may not read falls back to an upload and links nothing', async () => {
    const blob = secretImg.layers[0]!;
    const res = await ci.fetch(`/v2/app/mounted/blobs/uploads/?mount=${blob}&from=secret/db`, { method: 'POST' });
    assert.equal(res.status, 202);
    assert.match(res.headers.get('location') ?? '', /^\/v2\/app\/mounted\/blobs\/uploads\//);
    assert.equal((await ci.fetch(`/v2/app/mounted/blobs/${blob}`, { method: 'HEAD' })).status, 404);
    // same answer for a digest that exists nowhere
    const nowhere = await ci.fetch(`/v2/app/mounted/blobs/uploads/?mount=${sha256('nowhere')}&from=secret/db`, { method: 'POST' });
    assert.equal(nowhere.status, 202);
    // and no automatic mount (without from) of a blob that only an unreadable repository holds
    const auto = await ci.fetch(`/v2/app/mounted/blobs/uploads/?mount=${blob}`, { method: 'POST' });
    assert.equal(auto.status, 202);
    // from a readable source the mount works
    const ok = await ci.fetch(`/v2/app/mounted/blobs/uploads/?mount=${appV1.layers[0]}&from=app/web`, { method: 'POST' });
    assert.equal(ok.status, 201);
  });

  it('/v2/token: a token for good credentials, an anonymous one without, 401 for wrong ones; tokens end with the password', async () => {
    const wrong = await anon.fetch('/v2/token?service=x&scope=repository:app/web:pull', { headers: basic('ci', 'nope') });
    assert.equal(wrong.status, 401);
    const anonymousToken = ((await (await anon.fetch('/v2/token')).json()) as { token: string }).token;
    const pub = await anon.fetch('/v2/public/base/manifests/latest', { headers: { Authorization: `Bearer ${anonymousToken}` } });
    assert.equal(pub.status, 200);
    assert.equal((await anon.fetch('/v2/app/web/manifests/v1', { headers: { Authorization: `Bearer ${anonymousToken}` } })).status, 401);

    const form = new URLSearchParams({ grant_type: 'password', username: 'server', password: PASSWORDS.server!, service: 'x' });
    const posted = await anon.fetch('/v2/token', { method: 'POST', body: form.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.equal(posted.status, 200);
    const token = ((await posted.json()) as { access_token: string }).access_token;
    const bearer = { Authorization: `Bearer ${token}` };
    assert.equal((await anon.fetch('/v2/', { headers: bearer })).status, 200);
    assert.equal((await anon.fetch('/v2/app/web/manifests/v1', { headers: bearer })).status, 200);
    assert.equal((await anon.fetch('/v2/app/web/blobs/uploads/', { method: 'POST', headers: bearer })).status, 403);
    assert.equal((await anon.fetch('/v2/', { headers: { Authorization: `Bearer ${token}x` } })).status, 401);

    // a new password for server ends the token
    const lines = Object.entries(PASSWORDS).map(([u, p]) => htpasswdLine(u, u === 'server' ? 'rotated-pw' : p));
    replaceAtomically(htpasswd, lines.join(''));
    await until('token refused after the password change', reg, async () => (await anon.fetch('/v2/', { headers: bearer })).status === 401, 2000);
    replaceAtomically(htpasswd, Object.entries(PASSWORDS).map(([u, p]) => htpasswdLine(u, p)).join(''));
    await until('old password back', reg, async () => (await server.fetch('/v2/')).status === 200, 2000);
  });

  it('the UI API shows only readable repositories, hides delete where not allowed, and refuses it', async () => {
    const signIn = async (user: string) => {
      const res = await reg.fetch('/ui/api/session', { method: 'POST', body: JSON.stringify({ user, password: PASSWORDS[user] }), headers: { 'Content-Type': 'application/json' } });
      assert.equal(res.status, 200);
      return { Cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]! };
    };
    const serverUi = await signIn('server');
    const repos = (await (await reg.fetch('/ui/api/repositories', { headers: serverUi })).json()) as { items: { name: string; canDelete: boolean }[] };
    assert.deepEqual(repos.items.map((r) => [r.name, r.canDelete]), [['app/web', false], ['public/base', false]]);
    const devUi = await signIn('dev');
    const devRepos = (await (await reg.fetch('/ui/api/repositories', { headers: devUi })).json()) as { items: { name: string; canDelete: boolean }[] };
    assert.deepEqual(devRepos.items.map((r) => [r.name, r.canDelete]), [['app/web', true], ['public/base', false], ['secret/db', true]]);
    const tags = (await (await reg.fetch('/ui/api/tags?repo=app/web', { headers: devUi })).json()) as { canDelete: boolean };
    assert.equal(tags.canDelete, true);

    for (const repo of ['secret/db', 'secret/nothing']) {
      const res = await reg.fetch(`/ui/api/tags?repo=${repo}`, { headers: serverUi });
      assert.equal(res.status, 404, repo);
      assert.equal(await errorCode(res), 'NAME_UNKNOWN');
      const m = await reg.fetch(`/ui/api/manifest?repo=${repo}&ref=v1`, { headers: serverUi });
      assert.equal(m.status, 404, repo);
    }
    const denied = await reg.fetch('/ui/api/tag?repo=app/web&tag=v1', { method: 'DELETE', headers: serverUi });
    assert.equal(denied.status, 403);
    assert.equal(await errorCode(denied), 'DENIED');
    const hidden = await reg.fetch('/ui/api/tag?repo=secret/db&tag=v1', { method: 'DELETE', headers: serverUi });
    assert.equal(hidden.status, 404);
    assert.equal((await dev.fetch('/v2/secret/db/manifests/v1', { method: 'HEAD' })).status, 200, 'still there');
  });

  it('reloads: an atomic replace applies within a second; a broken version keeps the policy and is logged once; a deleted file allows nothing', async () => {
    const denied = async () => (await server.fetch('/v2/secret/db/manifests/v1', { method: 'HEAD' })).status === 403;
    assert.ok(await denied());
    replaceAtomically(accessFile, POLICY.replace('actions: [read, create, delete]', 'actions: [read, create, delete]\n      - groups: [servers]\n        actions: [read]'));
    const ms = await until('server may read secret/**', reg, async () => !(await denied()), 1000);
    assert.ok(ms < 1000);

    replaceAtomically(accessFile, `${POLICY}\n  bogus: [1]\n`);
    await until('the refusal is logged', reg, async () => reg.logs.some((l) => l.includes('access policy not reloaded')), 1000);
    await new Promise((r) => setTimeout(r, 600)); // several polls of the same broken version
    const refusals = reg.logs.filter((l) => l.includes('access policy not reloaded'));
    assert.equal(refusals.length, 1, refusals.join('\n'));
    assert.match(refusals[0]!, /access\.yaml line \d+: .*unknown key "bogus"/);
    assert.equal(await denied(), false, 'the previous (reloaded) policy is still in force');

    unlinkSync(accessFile);
    await until('nothing allowed while the file is missing', reg, async () => (await dev.fetch('/v2/app/web/manifests/v1', { method: 'HEAD' })).status === 403, 1000);
    assert.ok(reg.logs.some((l) => l.includes('is missing: every request is refused')));
    replaceAtomically(accessFile, POLICY);
    await until('the policy is back', reg, async () => denied(), 1000);
  });
});

describe('serve --access flags', () => {
  it('--access needs --htpasswd; REGISTRY_AUTH_ACCESS_PATH sets it; a bad file stops start-up with one line', async () => {
    assert.throws(() => configFromFlags({ access: 'a.yaml' }, {}), (e: Error) => e instanceof ConfigError && /--access needs --htpasswd/.test(e.message));
    assert.equal(configFromFlags({ htpasswd: 'h' }, { REGISTRY_AUTH_ACCESS_PATH: '/x/access.yaml' }).accessFile, '/x/access.yaml');
    assert.equal(configFromFlags({ htpasswd: 'h', access: 'b.yaml' }, { REGISTRY_AUTH_ACCESS_PATH: '/x/access.yaml' }).accessFile, 'b.yaml');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-access-flags-'));
    try {
      const file = path.join(dir, 'access.yaml');
      writeFileSync(path.join(dir, 'htpasswd'), htpasswdLine('a', 'b'));
      writeFileSync(file, 'repositories:\n  "**":\n    defaultPolicy: [push]\n');
      await assert.rejects(startTestRegistry({ htpasswd: path.join(dir, 'htpasswd'), accessFile: file, dataDir: dir }), /access\.yaml line 3: .*unknown action "push"/);
      await assert.rejects(startTestRegistry({ htpasswd: path.join(dir, 'htpasswd'), accessFile: path.join(dir, 'none.yaml'), dataDir: dir }), /cannot read access policy file .*ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without --access nothing changes: every signed-in user may push and delete, anonymous requests get the Basic challenge', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-access-none-'));
    const file = path.join(dir, 'htpasswd');
    writeFileSync(file, htpasswdLine('ci', 'ci-pw'));
    const reg = await startTestRegistry({ htpasswd: file, realm: 'R' });
    try {
      const ci = as(reg, basic('ci'));
      const img = await pushImage(ci, 'any/repo', 'v1');
      await pushBlob(ci, 'any/repo', 'more');
      assert.equal((await ci.fetch(`/v2/any/repo/manifests/${img.digest}`, { method: 'DELETE' })).status, 202);
      const res = await reg.fetch('/v2/any/repo/tags/list');
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Basic realm="R"');
      assert.equal((await reg.fetch('/v2/token')).status, 401, 'no token endpoint: just another path behind the challenge');
    } finally {
      await reg.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
