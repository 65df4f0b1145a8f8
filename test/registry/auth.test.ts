import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { HtpasswdAuth, HtpasswdError, parseHtpasswd } from '../../src/registry/auth/htpasswd.js';
import { errorCode, sha256, startTestRegistry, type TestRegistry } from './harness.js';

const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const line = (user: string, password: string, prefix = '$2y$') => `${user}:${bcrypt.hashSync(password, 5).replace(/^\$2[ab]\$/, prefix)}\n`;

/** Replaces the file the way our tools do: write a temp file, rename over. */
function replaceAtomically(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

async function waitForStatus(reg: TestRegistry, headers: Record<string, string>, want: number, withinMs: number): Promise<number> {
  const start = Date.now();
  let status = 0;
  while (Date.now() - start < withinMs) {
    status = (await reg.fetch('/v2/', { headers })).status;
    if (status === want) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`/v2/ still answers ${status}, wanted ${want} within ${withinMs} ms; log: ${reg.logs.slice(-5).join(' | ')}`);
}

describe('htpasswd auth', () => {
  let dir: string;
  let file: string;
  let reg: TestRegistry;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rs-auth-'));
    file = path.join(dir, 'htpasswd');
    writeFileSync(file, line('alice', 'wonderland') + line('bob', 'builder', '$2a$'));
    reg = await startTestRegistry({ htpasswd: file, realm: 'Test Realm' });
  });
  after(async () => {
    await reg.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 401 with a Basic challenge on every route without valid credentials', async () => {
    const routes: [string, string][] = [
      ['GET', '/v2/'],
      ['GET', '/v2/_catalog'],
      ['GET', '/v2/a/tags/list'],
      ['GET', '/v2/a/manifests/latest'],
      ['PUT', '/v2/a/manifests/latest'],
      ['HEAD', `/v2/a/blobs/${sha256('x')}`],
      ['POST', '/v2/a/blobs/uploads/'],
      ['GET', `/v2/a/referrers/${sha256('x')}`],
    ];
    for (const headers of [{}, basic('alice', 'wrong'), basic('mallory', 'wonderland'), { Authorization: 'Bearer abc' }]) {
      for (const [method, p] of routes) {
        const res = await reg.fetch(p, { method, headers });
        assert.equal(res.status, 401, `${method} ${p}`);
        assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Test Realm"');
        if (method !== 'HEAD') assert.equal(await errorCode(res), 'UNAUTHORIZED');
      }
    }
  });

  it('accepts $2y$ and $2a$ users', async () => {
    assert.equal((await reg.fetch('/v2/', { headers: basic('alice', 'wonderland') })).status, 200);
    assert.equal((await reg.fetch('/v2/', { headers: basic('bob', 'builder') })).status, 200);
    assert.equal((await reg.fetch('/v2/_catalog', { headers: basic('bob', 'builder') })).status, 200);
  });

  it('re-reads the file within a second of an atomic replace: new users in, removed users out', async () => {
    replaceAtomically(file, line('alice', 'wonderland') + line('carol', 'singer', '$2b$'));
    await waitForStatus(reg, basic('carol', 'singer'), 200, 1000);
    await waitForStatus(reg, basic('bob', 'builder'), 401, 1000);
    // Rotation: the cached success for the old password must not survive the reload.
    replaceAtomically(file, line('alice', 'looking-glass') + line('carol', 'singer'));
    await waitForStatus(reg, basic('alice', 'looking-glass'), 200, 1000);
    assert.equal((await reg.fetch('/v2/', { headers: basic('alice', 'wonderland') })).status, 401);
  });

  it('keeps the previous users when the file becomes invalid, and says so in the log', async () => {
    writeFileSync(file, 'carol:{SHA}not-bcrypt\n');
    const deadline = Date.now() + 2000;
    while (!reg.logs.some((l) => l.includes('not reloaded')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.ok(reg.logs.some((l) => /not reloaded.*line 1/.test(l)), reg.logs.join('\n'));
    assert.equal((await reg.fetch('/v2/', { headers: basic('carol', 'singer') })).status, 200);
  });
});

describe('failed sign-ins', () => {
  let dir: string;
  let reg: TestRegistry;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rs-auth-'));
    const file = path.join(dir, 'htpasswd');
    writeFileSync(file, line('alice', 'wonderland') + line('dave', 'diver'));
    reg = await startTestRegistry({ htpasswd: file });
  });
  after(async () => {
    await reg.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a name that keeps failing waits before its next check (429, Retry-After); verified credentials never wait', async () => {
    assert.equal((await reg.fetch('/v2/', { headers: basic('alice', 'wonderland') })).status, 200);
    for (let i = 1; i <= 10; i++) {
      const res = await reg.fetch('/v2/', { headers: basic('dave', `guess-${i}`) });
      assert.equal(res.status, 401, `guess ${i}`);
    }
    // Now even the right password is not checked until the wait is over.
    const held = await reg.fetch('/v2/', { headers: basic('dave', 'diver') });
    assert.equal(held.status, 429);
    assert.equal(held.headers.get('retry-after'), '1');
    const body = (await held.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]!.code, 'TOOMANYREQUESTS');
    assert.match(body.errors[0]!.message, /too many failed sign-ins; try again in 1 s/);
    assert.ok(reg.logs.some((l) => l.includes('repeated failed sign-ins for user "dave"')), reg.logs.join('\n'));
    assert.ok(!reg.logs.some((l) => l.includes('guess-')), 'no password in the log');
    // A name that does not exist is held back the same way (the answers do not tell users apart).
    for (let i = 1; i <= 10; i++) assert.equal((await reg.fetch('/v2/', { headers: basic('nobody', `guess-${i}`) })).status, 401);
    assert.equal((await reg.fetch('/v2/', { headers: basic('nobody', 'x') })).status, 429);
    // Others, and credentials that already succeeded, are not affected.
    assert.equal((await reg.fetch('/v2/', { headers: basic('alice', 'wonderland') })).status, 200);
    // After the wait the right password gets in again, and a success clears the count.
    await waitForStatus(reg, basic('dave', 'diver'), 200, 3000);
    assert.equal((await reg.fetch('/v2/', { headers: basic('dave', 'wrong') })).status, 401);
  });
});

describe('htpasswd parsing', () => {
  it('refuses non-bcrypt hashes naming the line', () => {
    const text = line('ok', 'pw') + 'md5user:$apr1$abc$def\n';
    assert.throws(() => parseHtpasswd(text, 'users'), (err: Error) => err instanceof HtpasswdError && /users line 2 \(user "md5user"\)/.test(err.message));
    assert.throws(() => parseHtpasswd('nocolon\n'), /line 1/);
    assert.equal(parseHtpasswd('# comment\n\n' + line('u', 'p')).size, 1);
  });

  it('a bad file stops start-up with that message', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-auth-'));
    try {
      writeFileSync(path.join(dir, 'h'), 'u:{SHA}abc\n');
      await assert.rejects(HtpasswdAuth.open(path.join(dir, 'h')), /line 1 \(user "u"\): only bcrypt/);
      await assert.rejects(HtpasswdAuth.open(path.join(dir, 'missing')), /cannot read htpasswd file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a refused file once per version of it, and a deleted file once, with what it means', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-auth-'));
    const file = path.join(dir, 'h');
    writeFileSync(file, line('u', 'pw'));
    const events: string[] = [];
    // no timer tick during the test: each poll is one explicit call
    const auth = await HtpasswdAuth.open(file, {
      pollMs: 3_600_000,
      onReload: (n) => events.push(`reload ${n}`),
      onError: (e) => events.push(`error ${e.message}`),
      onMissing: () => events.push('missing'),
    });
    const poll = () => (auth as unknown as { check(): Promise<void> }).check();
    try {
      replaceAtomically(file, 'u:{SHA}not-bcrypt\n');
      for (let i = 0; i < 3; i++) await poll();
      assert.equal(events.length, 1, events.join('\n'));
      assert.match(events[0]!, /^error .*line 1/);
      assert.equal(await auth.verify('u', 'pw'), 'u', 'the previous users are kept');
      replaceAtomically(file, 'u:{SHA}still-not-bcrypt\n');
      await poll();
      await poll();
      assert.equal(events.length, 2, 'a new bad version is reported once more');
      rmSync(file);
      await poll();
      await poll();
      assert.deepEqual(events.slice(2), ['missing']);
      assert.equal(await auth.verify('u', 'pw'), null, 'nobody gets in while the file is gone');
      replaceAtomically(file, line('u', 'pw'));
      await poll();
      assert.deepEqual(events.slice(3), ['reload 1']);
      assert.equal(await auth.verify('u', 'pw'), 'u');
    } finally {
      auth.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unknown user costs a bcrypt comparison like a wrong password does', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-auth-'));
    const file = path.join(dir, 'h');
    writeFileSync(file, `u:${bcrypt.hashSync('pw', 8)}\n`);
    const auth = await HtpasswdAuth.open(file);
    try {
      const time = async (user: string) => {
        const t = process.hrtime.bigint();
        assert.equal(await auth.verify(user, 'wrong'), null);
        return Number(process.hrtime.bigint() - t) / 1e6;
      };
      await time('nobody'); // the dummy hash is made on first use
      const unknown = await time('nobody');
      const wrong = await time('u');
      // Both pay a cost-8 bcrypt: same order of magnitude, not a cheap map miss.
      assert.ok(unknown > wrong / 10, `unknown user took ${unknown} ms, wrong password ${wrong} ms`);
    } finally {
      auth.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
