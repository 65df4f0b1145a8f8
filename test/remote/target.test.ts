// parseTarget: user@host:port forms, IPv6, ssh:// and ~/.ssh/config aliases (HostName, User, Port,
// IdentityFile, ProxyJump, HostKeyAlias), default identities, and jump host lists.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeTarget, parseJumpHosts, parseTarget, splitTarget } from '../../src/remote/target.js';
import { TempDirs } from '../helpers/tmp.js';

const me = userInfo().username;

describe('splitTarget / parseTarget without a config', () => {
  const none = { sshConfigPath: null, homeDir: '/nonexistent-home' } as const;

  test('user@host:port, host, user@host', () => {
    assert.deepEqual(splitTarget('deploy@example.com:2222'), { user: 'deploy', host: 'example.com', port: 2222 });
    assert.deepEqual(splitTarget('example.com'), { host: 'example.com' });
    assert.deepEqual(splitTarget('root@10.0.0.5'), { user: 'root', host: '10.0.0.5' });
    const t = parseTarget('deploy@example.com:2222', none);
    assert.equal(t.user, 'deploy');
    assert.equal(t.host, 'example.com');
    assert.equal(t.port, 2222);
    assert.deepEqual(t.identityFiles, []);
    assert.equal(t.proxyJump, undefined);
    assert.equal(t.alias, undefined);
  });

  test('defaults: port 22 and the local user name, like ssh', () => {
    const t = parseTarget('example.com', none);
    assert.equal(t.port, 22);
    assert.equal(t.user, me);
  });

  test('IPv6: bracketed with and without port, bare without port', () => {
    assert.deepEqual(splitTarget('root@[2001:db8::1]:2200'), { user: 'root', host: '2001:db8::1', port: 2200 });
    assert.deepEqual(splitTarget('[::1]'), { host: '::1' });
    assert.deepEqual(splitTarget('admin@fe80::1'), { user: 'admin', host: 'fe80::1' });
    assert.equal(describeTarget(parseTarget('root@[2001:db8::1]:2200', none)), 'root@[2001:db8::1]:2200');
    assert.equal(describeTarget(parseTarget('root@host', none)), 'root@host');
  });

  test('ssh:// URLs and the last @ separating the user', () => {
    assert.deepEqual(splitTarget('ssh://git@example.com:2022/'), { user: 'git', host: 'example.com', port: 2022 });
    assert.deepEqual(splitTarget('me@corp@bastion'), { user: 'me@corp', host: 'bastion' });
  });

  test('invalid targets are refused with a message', () => {
    assert.throws(() => splitTarget(''), /empty SSH target/);
    assert.throws(() => splitTarget('host:0'), /invalid port "0"/);
    assert.throws(() => splitTarget('host:70000'), /invalid port/);
    assert.throws(() => splitTarget('host:ssh'), /invalid port/);
    assert.throws(() => splitTarget('@host'), /empty user name/);
    assert.throws(() => splitTarget('[::1'), /missing "\]"/);
    assert.throws(() => splitTarget('[::1]2222'), /expected ":port"/);
    assert.throws(() => splitTarget('-oProxyCommand=x'), /cannot start with "-"/);
    assert.throws(() => splitTarget('host name'), /no spaces/);
    assert.throws(() => splitTarget('user@'), /no host name/);
    // more than one colon is only an IPv6 address when it is one
    assert.throws(() => splitTarget('root@127.0.0.1:1:2'), /expected \[user@\]host\[:port\], or an IPv6 address/);
    assert.deepEqual(splitTarget('root@2001:db8::1'), { user: 'root', host: '2001:db8::1' });
    assert.deepEqual(splitTarget('::ffff:192.0.2.1'), { host: '::ffff:192.0.2.1' });
  });
});

describe('parseTarget with an ssh config', () => {
  const tmp = new TempDirs();
  let home = '';
  let config = '';

  before(async () => {
    home = await tmp.make('rs-target-');
    await mkdir(join(home, '.ssh'));
    await writeFile(join(home, '.ssh', 'prod_key'), 'x');
    await writeFile(join(home, '.ssh', 'id_ed25519'), 'x');
    await writeFile(join(home, '.ssh', 'id_rsa'), 'x');
    await writeFile(join(home, 'explicit_key'), 'x');
    config = join(home, '.ssh', 'config');
    await writeFile(
      config,
      [
        'Host prod',
        '  HostName 203.0.113.10',
        '  User deploy',
        '  Port 2200',
        '  IdentityFile ~/.ssh/prod_key',
        '  IdentityFile ~/.ssh/missing_key',
        '  ProxyJump jumpuser@bastion.example.com:2022',
        '',
        'Host bastion-alias',
        '  HostName bastion.internal',
        '  User jump',
        '',
        'Host behind',
        '  HostName 10.1.2.3',
        '  ProxyJump bastion-alias,root@[2001:db8::7]:2201',
        '',
        'Host *.corp',
        '  HostName %h.example.net',
        '  HostKeyAlias corp-hosts',
        '',
        'Host direct',
        '  HostName 198.51.100.1',
        '  ProxyJump none',
        '',
      ].join('\n'),
    );
  });
  after(() => tmp.cleanup());

  test('a config file it cannot parse is named, with what to do', async () => {
    const broken = join(home, 'broken_config');
    await writeFile(broken, 'Host x\n  HostName "unterminated\n');
    assert.throws(() => parseTarget('x', { sshConfigPath: broken, homeDir: home }), (e: Error) => e.message.startsWith(`cannot read SSH config ${broken}: `) && /fix the file/.test(e.message) && !e.message.includes('\n'));
  });

  test('an alias brings HostName, User, Port, IdentityFile, ProxyJump', () => {
    const t = parseTarget('prod', { sshConfigPath: config, homeDir: home });
    assert.equal(t.host, '203.0.113.10');
    assert.equal(t.user, 'deploy');
    assert.equal(t.port, 2200);
    assert.equal(t.alias, 'prod');
    assert.equal(t.proxyJump, 'jumpuser@bastion.example.com:2022');
    // -i first (absent here), config keys that exist, then the default keys that exist
    assert.deepEqual(t.identityFiles, [join(home, '.ssh', 'prod_key'), join(home, '.ssh', 'id_ed25519'), join(home, '.ssh', 'id_rsa')]);
  });

  test('the target string beats the config; -i comes first; the default config path is ~/.ssh/config', () => {
    const t = parseTarget('admin@prod:2022', { homeDir: home, identity: '~/explicit_key' });
    assert.equal(t.host, '203.0.113.10');
    assert.equal(t.user, 'admin');
    assert.equal(t.port, 2022);
    assert.equal(t.identityFiles[0], join(home, 'explicit_key'));
    assert.equal(t.identityFiles[1], join(home, '.ssh', 'prod_key'));
  });

  test('a missing -i file is an error right away', () => {
    assert.throws(() => parseTarget('prod', { sshConfigPath: config, homeDir: home, identity: '~/no_such_key' }), /identity file not found: .*no_such_key/);
  });

  test('%h in HostName, HostKeyAlias, ProxyJump none, unmatched hosts', () => {
    const corp = parseTarget('db.corp', { sshConfigPath: config, homeDir: home });
    assert.equal(corp.host, 'db.corp.example.net');
    assert.equal(corp.hostKeyAlias, 'corp-hosts');
    assert.equal(parseTarget('direct', { sshConfigPath: config, homeDir: home }).proxyJump, undefined);
    const plain = parseTarget('other.example.org', { sshConfigPath: config, homeDir: home });
    assert.equal(plain.host, 'other.example.org');
    assert.equal(plain.alias, undefined);
    assert.equal(plain.user, me);
  });

  test('a --jump option overrides the config ProxyJump', () => {
    assert.equal(parseTarget('prod', { sshConfigPath: config, homeDir: home, proxyJump: 'none' }).proxyJump, undefined);
    assert.equal(parseTarget('prod', { sshConfigPath: config, homeDir: home, proxyJump: 'j@h' }).proxyJump, 'j@h');
  });

  test('jump host chains are resolved hop by hop, aliases included', () => {
    const t = parseTarget('behind', { sshConfigPath: config, homeDir: home });
    assert.equal(t.proxyJump, 'bastion-alias,root@[2001:db8::7]:2201');
    const hops = parseJumpHosts(t.proxyJump!, { sshConfigPath: config, homeDir: home });
    assert.equal(hops.length, 2);
    assert.deepEqual([hops[0]!.user, hops[0]!.host, hops[0]!.port], ['jump', 'bastion.internal', 22]);
    assert.deepEqual([hops[1]!.user, hops[1]!.host, hops[1]!.port], ['root', '2001:db8::7', 2201]);
    assert.equal(hops[0]!.proxyJump, undefined);
  });

  test('a missing config file is no config; an invalid Port in the config is reported', async () => {
    assert.equal(parseTarget('prod', { sshConfigPath: join(home, 'nope'), homeDir: home }).host, 'prod');
    const bad = join(home, 'bad_config');
    await writeFile(bad, 'Host x\n  Port abc\n');
    assert.throws(() => parseTarget('x', { sshConfigPath: bad, homeDir: home }), /invalid port "abc"/);
  });
});
