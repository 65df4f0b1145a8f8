// Command construction without a server: quoting (checked against a real local sh), redaction,
// the sudo wrappers, the upload/read helper argv and their validation.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkRemotePath, readArgv, READ_MISSING, uploadArgv } from '../../src/remote/files.js';
import { redact, shellJoin, shellQuote } from '../../src/remote/quote.js';
import { sudoProbeFailure, wrapCommand } from '../../src/remote/sudo.js';
import { run } from '../helpers/exec.js';

const AWKWARD = [
  '',
  ' ',
  'two words',
  "it's",
  "''",
  '"double"',
  '$HOME',
  '${PATH}',
  '`id`',
  '$(id)',
  'a\\b\\\\c',
  'line1\nline2\n',
  '\ttab',
  '*',
  '~',
  '-n',
  '--',
  'ü ñ 中文 🙂',
  '!event',
  '#comment',
  ';|&<>()',
];

describe('shell quoting', () => {
  test('safe words stay bare, others are single-quoted', () => {
    assert.equal(shellQuote('abc-1.2/x=y,z:@%+_'), 'abc-1.2/x=y,z:@%+_');
    assert.equal(shellQuote(''), "''");
    assert.equal(shellQuote('a b'), "'a b'");
    assert.equal(shellQuote("it's"), "'it'\\''s'");
    assert.throws(() => shellQuote('a\0b'), /NUL/);
    assert.throws(() => shellJoin([]), /empty command/);
  });

  test('every awkward argument round-trips through a real sh exactly', async () => {
    for (const arg of AWKWARD) {
      const r = await run('sh', ['-c', shellJoin(['printf', '%s', arg])]);
      assert.equal(r.stdout, arg, `argument ${JSON.stringify(arg)}`);
    }
    // and all at once, as separate arguments
    const r = await run('sh', ['-c', shellJoin(['printf', '%s\\0', ...AWKWARD])]);
    assert.deepEqual(r.stdout.split('\0').slice(0, -1), AWKWARD);
  });
});

describe('redaction', () => {
  test('plain and shell-quoted occurrences, longest first', () => {
    assert.equal(redact('pw=hunter2 again hunter2', ['hunter2']), 'pw=*** again ***');
    const secret = "it's secret";
    const cmd = shellJoin(['htpasswd', '-b', 'file', 'user', secret]);
    assert.ok(!redact(cmd, [secret]).includes('secret'), redact(cmd, [secret]));
    assert.equal(redact(shellJoin([`--password=${secret}`]), [secret]), "'--password=***'");
    assert.equal(redact('abcdef', ['abc', 'abcdef']), '***');
    assert.equal(redact('nothing', [undefined, '']), 'nothing');
  });
});

describe('sudo wrapping', () => {
  const argv = ['install', '-m', '0600', 'a b', '/etc/x'];

  test('no sudo, root login, NOPASSWD', () => {
    assert.deepEqual(wrapCommand(argv, undefined), { command: "install -m 0600 'a b' /etc/x", display: "install -m 0600 'a b' /etc/x" });
    assert.deepEqual(wrapCommand(argv, { kind: 'root' }), { command: "install -m 0600 'a b' /etc/x", display: "install -m 0600 'a b' /etc/x" });
    const n = wrapCommand(argv, { kind: 'nopasswd' });
    assert.equal(n.command, "sudo -n -- install -m 0600 'a b' /etc/x");
    assert.equal(n.display, "sudo install -m 0600 'a b' /etc/x");
    assert.equal(n.handshake, undefined);
  });

  test('password: random prompt and marker, the password is in no argument', () => {
    const w = wrapCommand(argv, { kind: 'password', password: 'S3cr3t pw' }, 'tok');
    assert.equal(w.command, `sudo -S -p '[sudo-password:tok]' -- sh -c 'printf "%s\\n" "$0"; exec "$@"' '[sudo-ok:tok]' install -m 0600 'a b' /etc/x`);
    assert.ok(!w.command.includes('S3cr3t'));
    assert.ok(!w.display.includes('S3cr3t'));
    assert.deepEqual(w.handshake, { prompt: '[sudo-password:tok]', marker: '[sudo-ok:tok]', password: 'S3cr3t pw' });
    const a = wrapCommand(argv, { kind: 'password', password: 'x' });
    const b = wrapCommand(argv, { kind: 'password', password: 'x' });
    assert.notEqual(a.handshake!.prompt, b.handshake!.prompt);
  });

  test('the wrapper prints the marker, then runs argv unchanged (checked with a local sh)', async () => {
    const w = wrapCommand(['printf', '%s|', 'a b', "it's", '$HOME'], { kind: 'password', password: 'x' }, 'tok');
    // drop "sudo -S -p PROMPT --" and run the rest directly
    const withoutSudo = w.command.replace(/^sudo -S -p '\[sudo-password:tok\]' -- /, '');
    const r = await run('sh', ['-c', withoutSudo]);
    assert.equal(r.stdout, "[sudo-ok:tok]\na b|it's|$HOME|");
  });

  test('probe failures are classified', () => {
    assert.equal(sudoProbeFailure(127, 'sh: 1: sudo: not found'), 'missing');
    assert.equal(sudoProbeFailure(1, 'sudo: a password is required'), 'password');
    assert.equal(sudoProbeFailure(1, 'bob is not in the sudoers file.'), 'denied');
    assert.equal(sudoProbeFailure(1, 'Sorry, user bob may not run sudo on host.'), 'denied');
  });
});

describe('upload and read helpers', () => {
  test('upload argv carries dir, dest, name, octal mode, owner, group as separate arguments', () => {
    const a = uploadArgv('/opt/registry setup/auth/htpasswd', { mode: 0o640, owner: 'root', group: 'www-data' });
    assert.deepEqual(a.slice(3), ['registry-setup-upload', '/opt/registry setup/auth', '/opt/registry setup/auth/htpasswd', 'htpasswd', '0640', 'root', 'www-data']);
    assert.equal(a[0], 'sh');
    assert.match(a[2]!, /mktemp "\$dir\/\.\$base\.XXXXXXXX"/);
    assert.match(a[2]!, /mv -f -- "\$tmp" "\$dest"/);
    assert.deepEqual(uploadArgv('/x', { mode: 0o600 }).slice(-3), ['0600', '', '']);
  });

  test('paths, modes and names are validated', () => {
    assert.throws(() => checkRemotePath('relative/x'), /absolute/);
    assert.throws(() => checkRemotePath('/etc/'), /name a file/);
    assert.throws(() => checkRemotePath('/a/..'), /name a file/);
    assert.throws(() => checkRemotePath('/a\nb'), /control character/);
    assert.throws(() => uploadArgv('/x', { mode: 0o10000 }), /invalid file mode/);
    assert.throws(() => uploadArgv('/x', { mode: 0o600, owner: 'root; rm -rf /' }), /invalid owner/);
    assert.throws(() => uploadArgv('/x', { mode: 0o600, group: '-g' }), /invalid group/);
    assert.equal(readArgv('/etc/hostname').at(-1), '/etc/hostname');
  });

  test('the read script (run by a local sh): content, missing → 44, other errors reported', async () => {
    const sh = async (path: string) => {
      const [cmd, ...args] = readArgv(path);
      return run(cmd!, args, { allowFailure: true });
    };
    const ok = await sh('/etc/passwd');
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /^root:/);
    assert.equal(ok.stderr, '');
    assert.equal((await sh('/nonexistent-dir/file')).code, READ_MISSING);
    assert.equal((await sh('/etc/passwd/below-a-file')).code, READ_MISSING);
    const dir = await sh('/etc');
    assert.equal(dir.code, 1);
    assert.match(dir.stderr, /Is a directory/);
  });
});
