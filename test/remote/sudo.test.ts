// sudo for non-root logins, against the real sshd with throwaway users (created here, removed
// afterwards; CI runs as root): one with NOPASSWD, one whose sudo needs a password (also used for
// SSH password authentication). Checks that the password is asked once, never reaches the
// command's stdin (even when sudo has cached it), never shows in `ps`, and never in the log.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RemoteCommandError, RemoteHost, SudoError, type ConnectOptions, type SecretRequest } from '../../src/remote/index.js';
import { run } from '../helpers/exec.js';
import { sshdSkipReason, startSshd, type TestSshd } from '../helpers/sshd.js';
import { TempDirs } from '../helpers/tmp.js';

function skipReason(): string | undefined {
  const sshd = sshdSkipReason();
  if (sshd) return sshd;
  const missing = ['/usr/bin/sudo', '/usr/sbin/useradd', '/usr/sbin/chpasswd', '/usr/sbin/userdel'].filter((p) => !existsSync(p));
  if (missing.length === 0) return undefined;
  const reason = `missing ${missing.join(', ')} (apt-get install sudo passwd)`;
  if (process.env.CI) throw new Error(`CI: ${reason}`);
  return reason;
}

const skip = skipReason();

describe('sudo with non-root users', { skip: skip ?? false }, () => {
  const tmp = new TempDirs();
  const tag = randomBytes(3).toString('hex');
  const nopw = `rsnopw${tag}`;
  const pwUser = `rspw${tag}`;
  const password = `Pw ${randomBytes(8).toString('hex')} 'q"`;
  const sudoers = `/etc/sudoers.d/rs-test-${tag}`;
  const created: string[] = [];
  let sshd: TestSshd;
  let work = '';
  let home = '';
  const open: RemoteHost[] = [];

  before(async () => {
    sshd = await startSshd({ passwordAuthentication: true, authorizedUsers: [] });
    work = await tmp.make('rs-sudo-');
    home = await tmp.make('rs-sudo-home-');
    for (const user of [nopw, pwUser]) {
      await run('useradd', ['-m', '-s', '/bin/bash', user]);
      created.push(user);
      await sshd.authorize(user, sshd.clientPublicKey);
    }
    await run('usermod', ['-p', '*', nopw]); // no password, but not "locked" (sshd refuses locked accounts)
    await run('chpasswd', [], { input: `${pwUser}:${password}\n`, redact: [password] });
    await writeFile(sudoers, `${nopw} ALL=(ALL) NOPASSWD: ALL\n${pwUser} ALL=(ALL) ALL\n`, { mode: 0o440 });
    await run('visudo', ['-c', '-f', sudoers]);
  });

  after(async () => {
    for (const h of open) h.close();
    await sshd?.stop();
    await rm(sudoers, { force: true });
    for (const user of created) await run('userdel', ['-r', '-f', user], { allowFailure: true });
    await tmp.cleanup();
  });

  const options = (over: Partial<ConnectOptions> = {}): ConnectOptions => ({
    identity: sshd.clientKeyPath,
    sshConfigPath: null,
    homeDir: home,
    agentSocket: null,
    knownHostsPath: join(work, 'known_hosts'),
    logFile: join(work, 'commands.log'),
    interaction: { confirmNewHostKey: async () => true },
    ...over,
  });
  const connect = async (user: string, over: Partial<ConnectOptions> = {}): Promise<RemoteHost> => {
    const h = await RemoteHost.connect(`${user}@127.0.0.1:${sshd.port}`, options(over));
    open.push(h);
    return h;
  };
  const asker = (answers: (req: SecretRequest) => string | undefined) => {
    const asked: SecretRequest[] = [];
    return {
      asked,
      interaction: {
        confirmNewHostKey: async () => true,
        askSecret: async (req: SecretRequest) => {
          asked.push(req);
          return answers(req);
        },
      },
    };
  };

  test('NOPASSWD: sudo -n, nothing asked; root-only files written and read', async () => {
    const { asked, interaction } = asker(() => assert.fail('nothing should be asked'));
    const h = await connect(nopw, { interaction });
    assert.notEqual((await h.exec(['id', '-u'])).stdout.trim(), '0');
    assert.equal((await h.exec(['id', '-u'], { sudo: true })).stdout.trim(), '0');
    const dir = join(work, 'root-only');
    await run('install', ['-d', '-m', '0700', dir]);
    const dest = join(dir, 'conf');
    await h.upload(dest, 'secret conf\n', { mode: 0o600, sudo: true });
    const st = await stat(dest);
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal((await h.readFile(dest, { sudo: true }))?.toString(), 'secret conf\n');
    await assert.rejects(h.readFile(dest), RemoteCommandError, 'without sudo the login user cannot read it');
    assert.equal((await h.exec(['cat'], { sudo: true, stdin: 'through sudo -n' })).stdout, 'through sudo -n');
    assert.deepEqual(asked, []);
    const log = await readFile(join(work, 'commands.log'), 'utf8');
    assert.match(log, /\$ sudo id -u/);
    assert.match(log, /\$ sudo upload .*conf/);
  });

  test('password: asked once; stdin reaches the command intact even once sudo has cached it', async () => {
    const { asked, interaction } = asker((r) => (r.kind === 'sudo' ? password : undefined));
    const h = await connect(pwUser, { interaction });
    assert.equal((await h.exec(['id', '-u'], { sudo: true })).stdout.trim(), '0');
    // sudo has now cached the credential for this session: it will not prompt, and the stdin
    // must be the command's own, without a password line in front
    assert.equal((await h.exec(['cat'], { sudo: true, stdin: 'payload\n' })).stdout, 'payload\n');
    const bin = randomBytes(50_000);
    const dest = join(work, 'by-password-user.bin');
    await h.upload(dest, bin, { mode: 0o640, owner: 'root', group: 'root', sudo: true });
    assert.ok((await readFile(dest)).equals(bin));
    assert.equal((await stat(dest)).uid, 0);
    assert.deepEqual(
      asked.map((r) => [r.kind, r.attempt]),
      [['sudo', 1]],
    );
    assert.match(asked[0]!.message, new RegExp(`password for ${pwUser}`));
  });

  test('password: it is in no process argument and not in the log', async () => {
    const { interaction } = asker((r) => (r.kind === 'sudo' ? password : undefined));
    const h = await connect(pwUser, { interaction });
    const sleeping = h.exec(['sleep', '1.5'], { sudo: true });
    let seen = '';
    for (let i = 0; i < 40 && !seen.includes('sleep 1.5'); i++) seen = (await h.exec(['ps', '-eo', 'args'])).stdout;
    await sleeping;
    assert.match(seen, /sleep 1\.5/, 'ps ran while the sudo command did');
    assert.ok(!seen.includes(password.slice(0, 12)));
    const log = await readFile(join(work, 'commands.log'), 'utf8');
    assert.ok(!log.includes(password.slice(0, 12)), 'password in the log');
    assert.ok(!log.includes(password.slice(3, 12)));
  });

  test('a wrong sudo password is asked again; three wrong ones end in SudoError', async () => {
    const first = asker((r) => (r.attempt === 1 ? 'wrong-password' : password));
    const h = await connect(pwUser, { interaction: first.interaction });
    assert.equal((await h.exec(['id', '-u'], { sudo: true })).stdout.trim(), '0');
    assert.deepEqual(
      first.asked.map((r) => r.attempt),
      [1, 2],
    );
    const never = asker(() => 'still-wrong');
    const h2 = await connect(pwUser, { interaction: never.interaction });
    const err = await h2.exec(['true'], { sudo: true }).catch((e: unknown) => e);
    assert.ok(err instanceof SudoError, String(err));
    assert.match(err.message, /three times/);
    assert.equal(never.asked.length, 3);
  });

  test('without a way to ask, sudo needing a password is a SudoError that explains the options', async () => {
    const h = await connect(pwUser, { interaction: { confirmNewHostKey: async () => true } });
    const err = await h.exec(['true'], { sudo: true }).catch((e: unknown) => e);
    assert.ok(err instanceof SudoError, String(err));
    assert.match(err.message, /needs a password/);
    assert.match(err.message, /NOPASSWD/);
    assert.match(err.message, /--sudo-password-file FILE/, 'names the non-interactive way');
    assert.doesNotMatch(err.message, new RegExp(`${pwUser} on ${pwUser}@`), 'the user is said once');
    assert.equal(err.message.split('\n').length, 1);
  });

  test('a sudo password from a non-interactive source: used only when sudo asks, a wrong one tried once', async () => {
    const logOf = async (name: string) => readFile(join(work, name), 'utf8');
    const never = asker(() => assert.fail('nothing should be asked when the password comes from a file'));
    // NOPASSWD: sudo -n works, the given password is never handed to sudo
    const h1 = await connect(nopw, { interaction: never.interaction, logFile: join(work, 'given-nopw.log'), sudoPassword: { password, source: '--sudo-password-file F' } });
    assert.equal((await h1.exec(['id', '-u'], { sudo: true })).stdout.trim(), '0');
    assert.doesNotMatch(await logOf('given-nopw.log'), /\$ sudo true$/m, 'no password check for a NOPASSWD user');
    // sudo asks: the given password is used, nobody is asked
    const h2 = await connect(pwUser, { interaction: never.interaction, logFile: join(work, 'given-pw.log'), sudoPassword: { password, source: '--sudo-password-file F' } });
    assert.equal((await h2.exec(['cat'], { sudo: true, stdin: 'data' })).stdout, 'data');
    assert.deepEqual(never.asked, []);
    const log2 = await logOf('given-pw.log');
    assert.equal(log2.match(/\$ sudo true$/gm)?.length, 1);
    assert.ok(!log2.includes(password.slice(0, 12)), 'the password is not in the log');
    // wrong: one try (the same file would be wrong again), one line naming the source, never a prompt
    const h3 = await connect(pwUser, { interaction: never.interaction, logFile: join(work, 'given-wrong.log'), sudoPassword: { password: 'wrong-from-file', source: '--sudo-password-file /run/x' } });
    const err = await h3.exec(['true'], { sudo: true }).catch((e: unknown) => e);
    assert.ok(err instanceof SudoError, String(err));
    assert.equal(err.message, `sudo on ${pwUser}@127.0.0.1:${sshd.port} refused the password from --sudo-password-file /run/x; put the right password for ${pwUser} there`);
    assert.equal((await logOf('given-wrong.log')).match(/\$ sudo true$/gm)?.length, 1, 'tried once');
    assert.ok(!(await logOf('given-wrong.log')).includes('wrong-from-file'));
  });

  test('SSH password authentication as the last resort, only with askSecret', async () => {
    const { asked, interaction } = asker((r) => (r.kind === 'password' ? password : undefined));
    // no key at all: the only way in is the password
    const h = await connect(pwUser, { identity: undefined, interaction });
    assert.equal((await h.exec(['whoami'])).stdout.trim(), pwUser);
    assert.deepEqual(
      asked.map((r) => r.kind),
      ['password'],
    );
    assert.match(asked[0]!.message, new RegExp(`${pwUser}@127\\.0\\.0\\.1:${sshd.port}'s password:`));
    await assert.rejects(connect(pwUser, { identity: undefined, interaction: { confirmNewHostKey: async () => true } }), /Permission denied/);
  });
});
