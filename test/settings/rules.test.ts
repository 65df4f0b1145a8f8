// Each value rule is written once (src/settings/rules.ts). Settings-only values (domain, data
// directory, ports, images, the publish address) are checked by the settings alone: the renderers
// take them as given. Where a renderer also takes values from elsewhere (ACME peers), the two agree.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkPartial, completeSettings, SettingsError } from '../../src/settings/resolve.js';
import { buildNginxConf } from '../../src/templates/render.js';

const base = { target: 'root@a', domain: 'registry.example.com', user: 'admin', tls: 'self-signed' as const };

function agree(what: string, settingsAccept: () => unknown, rendererAccepts: () => unknown): void {
  const ok = (f: () => unknown) => {
    try {
      f();
      return true;
    } catch {
      return false;
    }
  };
  assert.equal(ok(settingsAccept), ok(rendererAccepts), `settings and renderer disagree on ${what}`);
}

function accepts(what: string, settings: () => unknown, expected: boolean): void {
  let ok = true;
  try {
    settings();
  } catch {
    ok = false;
  }
  assert.equal(ok, expected, `the settings ${expected ? 'refuse' : 'accept'} ${what}`);
}

describe('one rule per value', () => {
  test('domain', () => {
    const domains = ['registry.example.com', 'localhost', 'A-1.b', 'a..b', '-a.b', 'a-.b', 'bad_domain', `${'a'.repeat(63)}.b`, `${'a'.repeat(64)}.b`, `${'abcdefghi.'.repeat(25)}abcd`, 'x.com; include /etc/passwd'];
    const refused = new Set(['a..b', '-a.b', 'a-.b', 'bad_domain', `${'a'.repeat(64)}.b`, `${'abcdefghi.'.repeat(25)}abcd`, 'x.com; include /etc/passwd']);
    for (const domain of domains) accepts(domain, () => completeSettings({ ...base, domain }), !refused.has(domain));
    assert.throws(() => completeSettings({ ...base, domain: `${'abcdefghi.'.repeat(25)}abcd` }), /not a host name/, '254 characters');
  });

  test("publish address: the settings' check, which upgrade's flag goes through too", () => {
    const good = ['127.0.0.1', '0.0.0.0', '[::1]'];
    for (const publishAddress of [...good, '999.1.1.1', '1.2.3', 'localhost', '[fe80::1']) {
      accepts(publishAddress, () => completeSettings({ ...base, publishAddress }), good.includes(publishAddress));
      accepts(`--publish-address ${publishAddress}`, () => checkPartial({ publishAddress }, 'flags'), good.includes(publishAddress));
    }
    assert.throws(() => checkPartial({ publishAddress: '999.1.1.1' }, 'flags'), (err: unknown) => err instanceof SettingsError && err.message === '--publish-address: publish address "999.1.1.1" must be an IPv4 address or a bracketed IPv6 address');
  });

  test("storage URL: the settings refuse what compose would interpolate, from flags, files and records alike", () => {
    const line = (url: string) => `storage "${url}" must not contain spaces or '$' (compose would read '$' as a variable)`;
    for (const storage of ['s3://images/p?endpoint=http://h/$HOME', 's3://images/p?x=$y', 's3://images/my prefix']) {
      assert.throws(() => checkPartial({ storage }, 'flags'), (err: unknown) => err instanceof SettingsError && err.message === `--storage: ${line(storage)}`, storage);
      assert.throws(() => checkPartial({ storage }, 'registry-setup.yaml'), (err: unknown) => err instanceof SettingsError && err.message === `registry-setup.yaml: storage: ${line(storage)}`, storage);
      // a host's record is read without format checks; completing the settings checks it
      assert.throws(() => completeSettings({ ...base, storage }), (err: unknown) => err instanceof SettingsError && err.message === `--storage: ${line(storage)}`, storage);
    }
    assert.equal(completeSettings({ ...base, storage: 's3://images/p?endpoint=http://h:9000' }).storage, 's3://images/p?endpoint=http://h:9000');
  });

  test('peer address (how the other hosts reach this one for ACME challenges)', () => {
    for (const peerAddress of ['172.17.0.1', 'reg2.example.com', '[2001:db8::2]', '999.1.1.1', '1.2.3', 'a b', 'x;y', '[fe80::1', '-a.b']) {
      agree(peerAddress, () => completeSettings({ ...base, peerAddress }), () => buildNginxConf({ mode: 'https', domain: base.domain, httpsPort: 443, acmePeers: [`${peerAddress}:80`] }));
      agree(`${peerAddress}:8080`, () => completeSettings({ ...base, peerAddress: `${peerAddress}:8080` }), () => buildNginxConf({ mode: 'https', domain: base.domain, httpsPort: 443, acmePeers: [`${peerAddress}:8080`] }));
    }
    assert.throws(() => completeSettings({ ...base, peerAddress: '999.1.1.1' }), /--peer-address: peer address "999\.1\.1\.1" must be/);
    assert.equal(completeSettings({ ...base, peerAddress: '172.17.0.1' }).peerAddress, '172.17.0.1');
    assert.throws(() => completeSettings({ ...base, peerAddress: '172.17.0.1:0' }), /peer address/);
  });

  test('data directory', () => {
    for (const dataDir of ['/srv/data', 'srv/data', '/srv/a:b', '/srv/my data', '/srv/$HOME', '/srv/50%', "/srv/it's", '/srv/a\\b']) {
      accepts(dataDir, () => completeSettings({ ...base, dataDir }), dataDir === '/srv/data');
    }
  });

  test('ports', () => {
    for (const httpsPort of [1, 443, 65535, 0, 65536, 1.5]) {
      accepts(String(httpsPort), () => completeSettings({ ...base, httpPort: 80, httpsPort }), [1, 443, 65535].includes(httpsPort));
    }
    assert.throws(() => completeSettings({ ...base, httpPort: 8080, httpsPort: 8080 }), /--https-port: must differ/);
  });

  test('images', () => {
    for (const image of ['nginx:1.27-alpine', 'docker.io/library/node:22@sha256:abc', 'nginx latest', 'node\nRUN rm -rf /', '"x"', '']) {
      const good = ['nginx:1.27-alpine', 'docker.io/library/node:22@sha256:abc'].includes(image);
      accepts(`nginxImage ${image}`, () => completeSettings({ ...base, nginxImage: image }), good);
      accepts(`nodeImage ${image}`, () => completeSettings({ ...base, nodeImage: image }), good);
    }
    assert.throws(() => completeSettings({ ...base, nginxImage: 'nginx latest' }), /--nginx-image: "nginx latest" is not an image reference/);
  });
});
