import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { RegistryClient } from '../../src/client/registry-client.js';
import { startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { skopeo } from '../helpers/skopeo.js';

describe('RegistryClient', () => {
  let dir: string;
  let reg: TestRegistry;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rs-client-'));
    writeFileSync(path.join(dir, 'htpasswd'), `ci:${bcrypt.hashSync('client-pass', 5)}\n`);
    reg = await startTestRegistry({ htpasswd: path.join(dir, 'htpasswd') });
  });
  after(async () => {
    await reg.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pings: 401 anonymous, 200 with credentials', async () => {
    const client = new RegistryClient({ baseUrl: reg.url, user: 'ci', password: 'client-pass' });
    assert.deepEqual(await client.ping(), { anonymous: 401, authenticated: 200 });
    const wrong = new RegistryClient({ baseUrl: reg.url, user: 'ci', password: 'nope' });
    assert.deepEqual(await wrong.ping(), { anonymous: 401, authenticated: 401 });
  });

  it('pushes and pulls a tiny image that a real client can copy', async () => {
    const client = new RegistryClient({ baseUrl: reg.url.replace('127.0.0.1', 'registry.invalid'), user: 'ci', password: 'client-pass', connectTo: '127.0.0.1' });
    const digest = await client.pushAndPullTinyImage('check/tiny', 'probe');
    assert.match(digest, /^sha256:[a-f0-9]{64}$/);
    const out = path.join(dir, 'layout');
    await skopeo(['copy', '--src-tls-verify=false', '--src-creds', 'ci:client-pass', `docker://${new URL(reg.url).host}/check/tiny:probe`, `oci:${out}:probe`]);
    const inspect = await skopeo(['inspect', '--raw', `oci:${out}:probe`]);
    assert.match(inspect.stdout, /vnd\.oci\.image\.layer\.v1\.tar\+gzip/);
  });
});
