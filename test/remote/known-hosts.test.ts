// known_hosts matching and the host key policy, without a server: plain, wildcard, negated and
// hashed entries, [host]:port, several key types, @revoked, fingerprints as ssh-keygen prints
// them, appending (modes), and the messages for changed and unknown keys.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { HostKeyChangedError, HostKeyNotTrustedError } from '../../src/remote/errors.js';
import { HostKeyVerifier, preferredHostKeyAlgorithms } from '../../src/remote/host-key.js';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  hostFieldMatches,
  keyTypeOf,
  knownHostsName,
  knownKeyTypes,
  parseKnownHosts,
} from '../../src/remote/known-hosts.js';
import { keyscanCommand, refuseUnknownHostKeys } from '../../src/remote/prompts.js';
import { run } from '../helpers/exec.js';
import { generateKey } from '../helpers/sshd.js';
import { TempDirs } from '../helpers/tmp.js';

/** A syntactically valid public key blob of the given type with random key material. */
function fakeKey(type: string): Buffer {
  const t = Buffer.from(type);
  const body = randomBytes(32);
  const b = Buffer.alloc(8 + t.length + body.length);
  b.writeUInt32BE(t.length, 0);
  t.copy(b, 4);
  b.writeUInt32BE(body.length, 4 + t.length);
  body.copy(b, 8 + t.length);
  return b;
}

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

const ed = fakeKey('ssh-ed25519');
const ed2 = fakeKey('ssh-ed25519');
const ecdsa = fakeKey('ecdsa-sha2-nistp256');
const line = (hosts: string, key: Buffer): string => `${hosts} ${keyTypeOf(key)} ${key.toString('base64')}`;

describe('known_hosts matching', () => {
  test('names: host for port 22, [host]:port otherwise, lower-cased', () => {
    assert.equal(knownHostsName('Example.COM', 22), 'example.com');
    assert.equal(knownHostsName('example.com', 2222), '[example.com]:2222');
    assert.equal(knownHostsName('2001:db8::1', 2222), '[2001:db8::1]:2222');
  });

  test('plain, comma lists, wildcards and negation', () => {
    assert.ok(hostFieldMatches('example.com,203.0.113.5', '203.0.113.5'));
    assert.ok(hostFieldMatches('*.example.com', 'a.example.com'));
    assert.ok(!hostFieldMatches('*.example.com', 'example.com'));
    assert.ok(hostFieldMatches('web?.example.com', 'web1.example.com'));
    assert.ok(!hostFieldMatches('*.example.com,!db.example.com', 'db.example.com'));
    assert.ok(hostFieldMatches('[example.com]:2222', '[example.com]:2222'));
    assert.ok(!hostFieldMatches('example.com', '[example.com]:2222'), 'a port-22 entry does not cover another port');
    assert.ok(!hostFieldMatches('[example.com]:2222', 'example.com'));
    assert.ok(hostFieldMatches('EXAMPLE.com', 'example.com'));
  });

  test('hashed entries (|1|salt|hmac-sha1), for both name forms', () => {
    assert.ok(hostFieldMatches(hashed('example.com'), 'example.com'));
    assert.ok(hostFieldMatches(hashed('[example.com]:2222'), '[example.com]:2222'));
    assert.ok(!hostFieldMatches(hashed('example.com'), 'example.org'));
    assert.ok(!hostFieldMatches('|1|garbage', 'example.com'));
  });

  test('entries written by ssh-keygen -H are matched', async () => {
    const tmp = new TempDirs();
    try {
      const dir = await tmp.make();
      const file = join(dir, 'known_hosts');
      await writeFile(file, `${line('plain.example.com', ed)}\n${line('[ported.example.com]:2200', ecdsa)}\n`);
      await run('ssh-keygen', ['-H', '-f', file], { timeoutMs: 10_000 });
      const entries = parseKnownHosts(await readFile(file, 'utf8'));
      assert.equal(entries.length, 2);
      assert.ok(entries.every((e) => e.hosts.startsWith('|1|')));
      assert.deepEqual(checkHostKey(entries, 'plain.example.com', 22, ed), { status: 'known' });
      assert.deepEqual(checkHostKey(entries, 'ported.example.com', 2200, ecdsa), { status: 'known' });
      assert.deepEqual(checkHostKey(entries, 'ported.example.com', 22, ecdsa), { status: 'unknown' });
    } finally {
      await tmp.cleanup();
    }
  });

  test('known, unknown, changed (any recorded key type), revoked; comments and junk are skipped', () => {
    const text = [
      '# a comment',
      '',
      line('a.example.com', ed),
      line('a.example.com', ecdsa),
      line('[b.example.com]:2222', ed),
      `@revoked * ${keyTypeOf(ed2)} ${ed2.toString('base64')}`,
      `@cert-authority *.example.com ${keyTypeOf(ecdsa)} ${ecdsa.toString('base64')}`,
      'not-a-valid-line',
      'host ssh-ed25519 !!notbase64!!',
    ].join('\n');
    const entries = parseKnownHosts(text);
    assert.equal(entries.length, 5);
    assert.deepEqual(checkHostKey(entries, 'a.example.com', 22, ed), { status: 'known' });
    assert.deepEqual(checkHostKey(entries, 'a.example.com', 22, ecdsa), { status: 'known' });
    assert.deepEqual(checkHostKey(entries, 'b.example.com', 2222, ed), { status: 'known' });
    assert.deepEqual(checkHostKey(entries, 'b.example.com', 2222, fakeKey('ssh-ed25519')), { status: 'changed', knownTypes: ['ssh-ed25519'] });
    // the host has keys of other types only: still refused (the handshake prefers recorded types)
    assert.deepEqual(checkHostKey(entries, 'b.example.com', 2222, fakeKey('ssh-rsa')), { status: 'changed', knownTypes: ['ssh-ed25519'] });
    assert.deepEqual(checkHostKey(entries, 'c.example.com', 22, ed), { status: 'unknown' }, '@cert-authority lines are not host keys');
    assert.deepEqual(checkHostKey(entries, 'a.example.com', 22, ed2), { status: 'revoked' });
    assert.deepEqual(knownKeyTypes(entries, 'a.example.com', 22), ['ssh-ed25519', 'ecdsa-sha2-nistp256']);
  });

  test('host key algorithms: recorded types first (RSA as its SHA-2 signature algorithms)', () => {
    assert.equal(preferredHostKeyAlgorithms([])[0], 'ssh-ed25519');
    const rsa = preferredHostKeyAlgorithms(['ssh-rsa']);
    assert.deepEqual(rsa.slice(0, 3), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    assert.equal(new Set(rsa).size, rsa.length);
    assert.equal(preferredHostKeyAlgorithms(['ecdsa-sha2-nistp256'])[0], 'ecdsa-sha2-nistp256');
  });

  test('fingerprints match ssh-keygen -lf', async () => {
    const tmp = new TempDirs();
    try {
      const dir = await tmp.make();
      for (const type of ['ed25519', 'ecdsa', 'rsa'] as const) {
        const key = await generateKey(dir, `k_${type}`, type);
        const pub = (await readFile(`${key}.pub`, 'utf8')).split(/\s+/);
        const blob = Buffer.from(pub[1]!, 'base64');
        const want = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key}.pub`])).stdout.split(/\s+/)[1];
        assert.equal(fingerprint(blob), want);
        assert.equal(keyTypeOf(blob), pub[0]);
        assert.doesNotMatch(fingerprint(blob), /=$/);
      }
    } finally {
      await tmp.cleanup();
    }
  });
});

describe('known_hosts file and policy', () => {
  const tmp = new TempDirs();
  after(() => tmp.cleanup());

  test('appending creates ~/.ssh 0700 and the file 0600, adds a missing final newline, and ssh-keygen -F finds it', async () => {
    const home = await tmp.make();
    const file = join(home, '.ssh', 'known_hosts');
    await appendKnownHost(file, 'Example.com', 22, ed);
    assert.equal((await stat(join(home, '.ssh'))).mode & 0o777, 0o700);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await writeFile(file, (await readFile(file, 'utf8')).trimEnd()); // no final newline
    await appendKnownHost(file, '127.0.0.1', 2222, ecdsa);
    const text = await readFile(file, 'utf8');
    assert.equal(text.split('\n').length, 3, text);
    const found = await run('ssh-keygen', ['-F', '[127.0.0.1]:2222', '-f', file]);
    assert.match(found.stdout, /ecdsa-sha2-nistp256/);
  });

  test('unknown → asked, recorded when accepted; then known without asking', async () => {
    const dir = await tmp.make();
    const v = new HostKeyVerifier({ knownHostsPath: join(dir, 'kh'), confirmNewHostKey: async () => true });
    const asked: string[] = [];
    const v2 = new HostKeyVerifier({
      knownHostsPath: join(dir, 'kh'),
      confirmNewHostKey: async (name, fp) => {
        asked.push(`${name} ${fp}`);
        return true;
      },
    });
    assert.equal((await v.verify({ host: 'h.example', port: 2222 }, ed)).kind, 'accepted');
    assert.equal((await v2.verify({ host: 'h.example', port: 2222 }, ed)).kind, 'known');
    assert.deepEqual(asked, []);
  });

  test('declined or no callback → HostKeyNotTrustedError; nothing recorded', async () => {
    const dir = await tmp.make();
    const file = join(dir, 'kh');
    await assert.rejects(new HostKeyVerifier({ knownHostsPath: file, confirmNewHostKey: async () => false }).verify({ host: 'h', port: 22 }, ed), HostKeyNotTrustedError);
    await assert.rejects(new HostKeyVerifier({ knownHostsPath: file }).verify({ host: 'h', port: 22 }, ed), HostKeyNotTrustedError);
    await assert.rejects(readFile(file), /ENOENT/);
  });

  test('changed → refused with a one-line message: new fingerprint and the ssh-keygen -R fix', async () => {
    const dir = await tmp.make();
    const file = join(dir, 'kh');
    await writeFile(file, `${line('[h.example]:2222', ed)}\n${line('h.example', ed)}\n`);
    let asked = false;
    const v = new HostKeyVerifier({
      knownHostsPath: file,
      confirmNewHostKey: async () => {
        asked = true;
        return true;
      },
    });
    const err = await v.verify({ host: 'h.example', port: 2222 }, ed2).then(
      () => assert.fail('accepted a changed key'),
      (e: unknown) => e as HostKeyChangedError,
    );
    assert.ok(err instanceof HostKeyChangedError);
    assert.equal(asked, false, 'a changed key is never offered for confirmation');
    assert.doesNotMatch(err.message, /\n/);
    assert.match(err.message, /CHANGED/);
    assert.ok(err.message.includes(fingerprint(ed2)));
    assert.ok(err.message.includes(`ssh-keygen -f ${file} -R "[h.example]:2222"`), err.message);
    const port22 = await v.verify({ host: 'h.example', port: 22 }, ed2).catch((e: Error) => e);
    assert.ok(port22 instanceof HostKeyChangedError);
    assert.ok(port22.message.endsWith(`ssh-keygen -f ${file} -R h.example`), port22.message);
    // with the default known_hosts the command needs no -f
    assert.equal(new HostKeyVerifier().removeCommand({ host: 'h.example', port: 2222 }), 'ssh-keygen -R "[h.example]:2222"');
  });

  test('HostKeyAlias is looked up instead of host and port', async () => {
    const dir = await tmp.make();
    const file = join(dir, 'kh');
    await writeFile(file, `${line('corp-hosts', ed)}\n`);
    const v = new HostKeyVerifier({ knownHostsPath: file });
    assert.equal((await v.verify({ host: 'db.example.net', port: 2200, hostKeyAlias: 'corp-hosts' }, ed)).kind, 'known');
  });

  test('the non-interactive refusal says to rerun with --yes or use ssh-keyscan', async () => {
    const refuse = refuseUnknownHostKeys();
    const err = await refuse('[203.0.113.5]:2222', 'SHA256:abc', 'ssh-ed25519').catch((e: Error) => e);
    assert.ok(err instanceof HostKeyNotTrustedError);
    assert.match(err.message, /--yes/);
    assert.ok(err.message.includes('ssh-keyscan -p 2222 -t ed25519 203.0.113.5 >> ~/.ssh/known_hosts'), err.message);
    assert.equal(keyscanCommand('example.com', 'ecdsa-sha2-nistp256', '/tmp/k h'), "ssh-keyscan -t ecdsa example.com >> '/tmp/k h'");
  });
});
