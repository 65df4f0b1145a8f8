// RemoteHost against a real OpenSSH sshd on 127.0.0.1: host key accept/record/refuse, auth
// (key, encrypted key, agent, failures), exec quoting, exit codes, stdin, timeouts, streaming,
// atomic uploads, reads, the command log's redaction, and ProxyJump through the same sshd.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import {
  AuthenticationError,
  ConnectError,
  HostKeyChangedError,
  HostKeyNotTrustedError,
  parseTarget,
  RemoteCommandError,
  RemoteHost,
  terminalInteraction,
  type ConnectOptions,
  type SecretRequest,
} from '../../src/remote/index.js';
import { run } from '../helpers/exec.js';
import { freePort } from '../helpers/net.js';
import { startProcess } from '../helpers/process.js';
import { generateKey, sshdSkipReason, startSshd, type TestSshd } from '../helpers/sshd.js';
import { TempDirs } from '../helpers/tmp.js';

const AWKWARD = ['', ' ', 'two  words', "it's", '"double"', '$HOME', '${PATH}', '`id`', '$(id)', 'a\\b', 'line1\nline2\n', '\ttab', '*', '~', '-n', '--', 'ü 中文 🙂', '!x', '#c', ';|&<>()'];

const skip = sshdSkipReason();

describe('RemoteHost against a real sshd', { skip: skip ?? false }, () => {
  const tmp = new TempDirs();
  let sshd: TestSshd;
  let home = ''; // an empty home: no ~/.ssh/config, no default keys
  let work = '';
  const open: RemoteHost[] = [];

  before(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519', 'ecdsa'] });
    home = await tmp.make('rs-home-');
    work = await tmp.make('rs-remote-work-');
  });
  after(async () => {
    for (const h of open) h.close();
    await sshd?.stop();
    await tmp.cleanup();
  });

  const target = (): string => `root@127.0.0.1:${sshd.port}`;
  let khCount = 0;
  const freshKnownHosts = (): string => join(work, `known_hosts_${++khCount}`);
  const trustAll = { confirmNewHostKey: async () => true };
  const options = (over: Partial<ConnectOptions> = {}): ConnectOptions => ({
    identity: sshd.clientKeyPath,
    sshConfigPath: null,
    homeDir: home,
    agentSocket: null,
    knownHostsPath: freshKnownHosts(),
    interaction: trustAll,
    connectTimeoutMs: 15_000,
    ...over,
  });
  const connect = async (over: Partial<ConnectOptions> = {}, t: string | ReturnType<typeof parseTarget> = target()): Promise<RemoteHost> => {
    const h = await RemoteHost.connect(t, options(over));
    open.push(h);
    return h;
  };
  const withLogs = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      (e as Error).message += `\n${sshd.logTail(40)}`;
      throw e;
    }
  };

  describe('host keys', () => {
    test('unknown key: asked once with the SHA256 fingerprint, recorded; reconnecting does not ask', () =>
      withLogs(async () => {
        const knownHostsPath = freshKnownHosts();
        const asked: string[] = [];
        const interaction = {
          confirmNewHostKey: async (host: string, fp: string, type: string) => {
            asked.push(`${host} ${type} ${fp}`);
            return true;
          },
        };
        const h = await connect({ knownHostsPath, interaction });
        assert.deepEqual(asked, [`[127.0.0.1]:${sshd.port} ssh-ed25519 ${sshd.hostKeyFingerprint}`]);
        assert.equal((await h.exec(['whoami'])).stdout, 'root\n');
        h.close();
        const recorded = await readFile(knownHostsPath, 'utf8');
        assert.equal(recorded, `${sshd.knownHostsLines()[0]}\n`);
        // OpenSSH reads what we wrote
        assert.match((await run('ssh-keygen', ['-F', `[127.0.0.1]:${sshd.port}`, '-f', knownHostsPath])).stdout, /ssh-ed25519/);

        const again = await connect({ knownHostsPath, interaction });
        assert.equal(asked.length, 1, 'no second prompt for a recorded key');
        assert.equal((await again.exec(['true'])).code, 0);
        assert.equal(await readFile(knownHostsPath, 'utf8'), recorded, 'nothing appended twice');
      }));

    test('a host recorded with its ECDSA key only is verified by that key (recorded types are preferred)', async () => {
      const knownHostsPath = freshKnownHosts();
      await writeFile(knownHostsPath, `${sshd.knownHostsLines()[1]}\n`);
      const h = await connect({ knownHostsPath, interaction: {} });
      assert.equal((await h.exec(['true'])).code, 0);
    });

    test('changed host key: refused with the new fingerprint and the ssh-keygen -R fix, never asked', async () => {
      const knownHostsPath = freshKnownHosts();
      const other = await generateKey(work, 'other_host_key');
      const otherPub = (await readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
      const before = `[127.0.0.1]:${sshd.port} ${otherPub}\n`;
      await writeFile(knownHostsPath, before);
      let asked = false;
      const err = await connect({
        knownHostsPath,
        interaction: {
          confirmNewHostKey: async () => {
            asked = true;
            return true;
          },
        },
      }).catch((e: unknown) => e);
      assert.ok(err instanceof HostKeyChangedError, String(err));
      assert.equal(asked, false);
      assert.doesNotMatch(err.message, /\n/);
      assert.ok(err.message.includes(sshd.hostKeyFingerprint), err.message);
      assert.ok(err.message.includes(`-R "[127.0.0.1]:${sshd.port}"`), err.message);
      assert.equal(await readFile(knownHostsPath, 'utf8'), before, 'known_hosts untouched');
    });

    test('unknown key without a way to confirm: refused; the CLI interaction says --yes or ssh-keyscan', async () => {
      const knownHostsPath = freshKnownHosts();
      await assert.rejects(connect({ knownHostsPath, interaction: {} }), HostKeyNotTrustedError);
      const err = await connect({ knownHostsPath, interaction: terminalInteraction({ interactive: false }) }).catch((e: unknown) => e);
      assert.ok(err instanceof HostKeyNotTrustedError, String(err));
      assert.match(err.message, /--yes/);
      assert.ok(err.message.includes(`ssh-keyscan -p ${sshd.port} -t ed25519 127.0.0.1`), err.message);
      await assert.rejects(readFile(knownHostsPath), /ENOENT/);
      // --yes accepts (and warns)
      const said: string[] = [];
      const output = { write: (s: string) => said.push(s) } as unknown as NodeJS.WritableStream;
      const h = await connect({ knownHostsPath, interaction: terminalInteraction({ interactive: false, assumeYes: true, output }) });
      assert.match(said.join(''), /permanently adding/);
      h.close();
      assert.match(await readFile(knownHostsPath, 'utf8'), /ssh-ed25519/);
    });
  });

  describe('authentication', () => {
    test('an encrypted key asks for its passphrase (again after a wrong one), never otherwise', () =>
      withLogs(async () => {
        const key = await generateKey(work, 'encrypted_key', 'ed25519', 'correct horse');
        await sshd.authorize('root', (await readFile(`${key}.pub`, 'utf8')).trim());
        const asked: SecretRequest[] = [];
        const h = await connect({
          identity: key,
          interaction: {
            ...trustAll,
            askSecret: async (req) => {
              asked.push(req);
              return req.attempt === 1 ? 'wrong' : 'correct horse';
            },
          },
        });
        assert.equal((await h.exec(['true'])).code, 0);
        assert.deepEqual(
          asked.map((r) => [r.kind, r.attempt]),
          [
            ['passphrase', 1],
            ['passphrase', 2],
          ],
        );
        assert.ok(asked[0]!.kind === 'passphrase' && asked[0]!.keyPath === key);
        assert.match(asked[0]!.message, /passphrase for key/);
      }));

    test('ssh-agent (SSH_AUTH_SOCK) is tried first and works without any key file', async () => {
      const sock = join(work, 'agent.sock');
      const agent = startProcess('ssh-agent', ['-D', '-a', sock], { name: 'ssh-agent' });
      try {
        await agent.waitForLine(/SSH_AUTH_SOCK/, 10_000);
        await run('ssh-add', [sshd.clientKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
        const h = await connect({ agentSocket: sock, identity: undefined });
        assert.equal((await h.exec(['true'])).code, 0);
        h.close();
      } finally {
        await agent.stop();
      }
    });

    test('permission denied says what was tried and what the server accepts', async () => {
      const stranger = await generateKey(work, 'stranger_key');
      const err = await connect({ identity: stranger }).catch((e: unknown) => e);
      assert.ok(err instanceof AuthenticationError, String(err));
      assert.match(err.message, /Permission denied for root@127\.0\.0\.1/);
      assert.ok(err.message.includes('stranger_key'), err.message);
      assert.match(err.message, /accepts: publickey/);
      assert.match(err.message, /non-interactive/);
    });

    test('nothing listening: ConnectError, quickly', async () => {
      const port = await freePort();
      const started = Date.now();
      await assert.rejects(RemoteHost.connect(`root@127.0.0.1:${port}`, options()), ConnectError);
      assert.ok(Date.now() - started < 5_000);
    });
  });

  describe('commands', () => {
    let h: RemoteHost;
    let logFile = '';
    before(async () => {
      logFile = join(work, 'logs', 'commands.log');
      h = await connect({ logFile });
    });

    test('awkward arguments round-trip exactly (printf %s)', async () => {
      for (const arg of AWKWARD) assert.equal((await h.exec(['printf', '%s', arg])).stdout, arg, JSON.stringify(arg));
      const all = await h.exec(['printf', '%s\\0', ...AWKWARD]);
      assert.deepEqual(all.stdout.split('\0').slice(0, -1), AWKWARD);
    });

    test('non-zero exit: RemoteCommandError with the code and the last 20 lines; allowFailure returns it', async () => {
      const script = 'i=1; while [ $i -le 30 ]; do echo "line $i"; i=$((i+1)); done; echo "oops" >&2; exit 7';
      const err = await h.exec(['sh', '-c', script]).catch((e: unknown) => e);
      assert.ok(err instanceof RemoteCommandError, String(err));
      assert.equal(err.code, 7);
      assert.match(err.message, /exited with code 7/);
      const tail = err.outputTail.split('\n');
      assert.equal(tail.length, 20);
      assert.equal(tail[0], 'line 12');
      assert.equal(tail.at(-1), 'oops');
      assert.ok(!err.message.includes('line 10\n'));
      const r = await h.exec(['sh', '-c', 'echo out; echo err >&2; exit 3'], { allowFailure: true });
      assert.deepEqual(r, { code: 3, stdout: 'out\n', stderr: 'err\n' });
      const missing = await h.exec(['no-such-command-xyz'], { allowFailure: true });
      assert.equal(missing.code, 127);
    });

    test('stdin: text and every byte value', async () => {
      assert.equal((await h.exec(['cat'], { stdin: 'hello\nworld' })).stdout, 'hello\nworld');
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const r = await h.exec(['sh', '-c', 'od -An -v -tx1 | tr -d " \\n"'], { stdin: bytes });
      assert.equal(r.stdout, bytes.toString('hex'));
      assert.equal((await h.exec(['cat'])).stdout, '', 'stdin is closed when none is given');
    });

    test('timeout: RemoteCommandError "timed out", and the remote process is killed', async () => {
      const secs = `3${Math.floor(Math.random() * 1000)}.5`; // a unique sleep to look for
      const started = Date.now();
      const err = await h.exec(['sleep', secs], { timeoutMs: 500 }).catch((e: unknown) => e);
      assert.ok(err instanceof RemoteCommandError, String(err));
      assert.match(err.message, /timed out/);
      assert.ok(Date.now() - started < 8_000);
      for (let i = 0; ; i++) {
        const ps = await h.exec(['pgrep', '-f', `^sleep ${secs}$`], { allowFailure: true });
        if (ps.code === 1) break;
        assert.ok(i < 100, `sleep ${secs} still running: ${ps.stdout}`);
        await delay(50);
      }
    });

    test('execStream delivers output as it comes; an AbortSignal ends it', async () => {
      const chunks: string[] = [];
      const r = await h.execStream(['sh', '-c', 'for i in 1 2 3; do echo $i; sleep 0.05; done; echo e >&2'], (c, s) => chunks.push(`${s}:${c}`));
      assert.deepEqual(r, { code: 0, aborted: false });
      assert.equal(chunks.filter((c) => c.startsWith('stdout:')).join('').replace(/stdout:/g, ''), '1\n2\n3\n');
      assert.ok(chunks.includes('stderr:e\n'));

      const ac = new AbortController();
      let ticks = 0;
      const follow = await h.execStream(['sh', '-c', 'while :; do echo tick; sleep 0.05; done'], () => {
        ticks += 1;
        if (ticks === 3) ac.abort();
      }, { signal: ac.signal });
      assert.equal(follow.aborted, true);
      assert.ok(ticks >= 3);
      await assert.rejects(h.execStream(['false'], () => {}), RemoteCommandError);
    });

    test('upload: new directories, mode 0600, owner and group, content exact', async () => {
      const dir = join(work, 'up', 'deep er');
      const dest = join(dir, 'secret.pem');
      const content = randomBytes(100_000);
      await h.upload(dest, content, { mode: 0o600 });
      assert.ok((await readFile(dest)).equals(content));
      assert.equal((await stat(dest)).mode & 0o7777, 0o600);
      await h.upload(dest, 'v2\n', { mode: 0o640, owner: 'nobody', group: 'nogroup' });
      const st = await stat(dest);
      assert.equal(st.mode & 0o7777, 0o640);
      assert.equal(st.uid, Number((await run('id', ['-u', 'nobody'])).stdout.trim()));
      assert.equal(st.gid, Number((await run('getent', ['group', 'nogroup'])).stdout.split(':')[2]));
      assert.equal(await readFile(dest, 'utf8'), 'v2\n');
      assert.deepEqual(await readdir(dir), ['secret.pem'], 'no temp file left behind');
    });

    test('upload replaces atomically: a concurrent reader only ever sees a whole old or new file', async () => {
      const dest = join(work, 'atomic', 'big.txt');
      const versions = [Buffer.alloc(4 << 20, 'a'), Buffer.alloc(3 << 20, 'b')];
      await h.upload(dest, versions[0]!, { mode: 0o644 });
      let ino = (await stat(dest)).ino;
      let reading = true;
      let reads = 0;
      const reader = (async () => {
        while (reading) {
          const got = await readFile(dest);
          reads += 1;
          assert.ok(
            versions.some((v) => v.equals(got)),
            `reader saw a partial file: ${got.length} bytes starting ${got.subarray(0, 1).toString()}`,
          );
        }
      })();
      for (let i = 1; i <= 6; i++) {
        await h.upload(dest, versions[i % 2]!, { mode: 0o644 });
        const now = (await stat(dest)).ino;
        assert.notEqual(now, ino, 'each upload renames a new inode into place');
        ino = now;
      }
      reading = false;
      await reader;
      assert.ok(reads > 3, `only ${reads} reads`);
      assert.deepEqual(await readdir(join(work, 'atomic')), ['big.txt']);
    });

    test('upload onto a directory fails cleanly; readFile returns bytes or null', async () => {
      const dir = join(work, 'a-directory');
      await run('mkdir', ['-p', dir]);
      await assert.rejects(h.upload(dir, 'x', { mode: 0o600 }), (e: unknown) => e instanceof RemoteCommandError && /is a directory/.test(e.message));
      assert.deepEqual(await readdir(join(work)).then((l) => l.filter((n) => n.startsWith('.a-directory'))), []);
      const bin = randomBytes(70_000);
      await writeFile(join(work, 'read-me'), bin);
      assert.ok((await h.readFile(join(work, 'read-me')))!.equals(bin));
      assert.equal(await h.readFile(join(work, 'nope', 'missing')), null);
      await assert.rejects(h.readFile(dir), RemoteCommandError);
    });

    test('the command log has commands, exit codes and durations, never secret values; it is 0600', async () => {
      const secret = `pw-${randomBytes(6).toString('hex')}'$x`;
      await h.exec(['sh', '-c', 'test -n "$1"', 'check', secret], { secretValues: [secret] });
      const err = await h.exec(['sh', '-c', 'echo "bad: $1" >&2; exit 2', 'fail', secret], { secretValues: [secret] }).catch((e: unknown) => e);
      assert.ok(err instanceof RemoteCommandError);
      assert.ok(!err.message.includes(secret.slice(0, 10)), err.message);
      assert.match(err.message, /bad: \*\*\*/);
      // remembered for the connection: a later command without secretValues is redacted too
      await h.exec(['printf', '%s', `again ${secret}`]);
      const log = await readFile(logFile, 'utf8');
      assert.ok(!log.includes(secret.slice(0, 10)), log);
      assert.match(log, /exit=0 \d+\.\d{3}s \$ sh -c 'test -n "\$1"' check \*\*\*/);
      assert.match(log, /exit=2 .* fail \*\*\*/);
      assert.match(log, /printf %s 'again \*\*\*'/);
      assert.match(log, /exit=0 .*\$ printf %s 'line1\\nline2\\n'/, 'newlines are escaped: one line per command');
      assert.match(log, /timed out|timeout .*\$ sleep/);
      assert.match(log, /upload .*secret\.pem \(3 bytes, mode 0640 nobody:nogroup\)/);
      assert.match(log, /# host key ssh-ed25519 SHA256:\S+ accepted/);
      assert.equal((await stat(logFile)).mode & 0o777, 0o600);
    });
  });

  test('ProxyJump through the same sshd to itself: both hops verified, one prompt for the shared name', () =>
    withLogs(async () => {
      const knownHostsPath = freshKnownHosts();
      const asked: string[] = [];
      const interaction = {
        confirmNewHostKey: async (host: string) => {
          asked.push(host);
          return true;
        },
      };
      const count = (): number => (sshd.logTail(2000).match(/Accepted publickey for root/g) ?? []).length;
      const before = count();
      const t = parseTarget(target(), { sshConfigPath: null, homeDir: home, identity: sshd.clientKeyPath, proxyJump: target() });
      assert.equal(t.proxyJump, target());
      const h = await connect({ knownHostsPath, interaction }, t);
      assert.equal((await h.exec(['printf', '%s', 'through the jump'])).stdout, 'through the jump');
      assert.deepEqual(asked, [`[127.0.0.1]:${sshd.port}`]);
      // the target connection arrives from sshd's own forwarding, i.e. a second login
      for (let i = 0; count() < before + 2; i++) {
        assert.ok(i < 100, 'sshd did not log two logins');
        await delay(20);
      }
      h.close();
      await assert.rejects(h.exec(['true']), /connection to root@127\.0\.0\.1:\d+ is closed/);
    }));
});
