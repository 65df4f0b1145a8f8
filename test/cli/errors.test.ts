// The CLI as a user runs it (the built bin): bad input is one line before any host is contacted,
// and with --json a failure is a JSON document on stdout as well.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TempDirs } from '../helpers/tmp.js';
import { misspelledCommand } from '../../src/cli/command-typo.js';

const COMMANDS = ['deploy', 'certs', 'serve', 'gc', 'users', 'status', 'logs', 'upgrade', 'destroy', 'help'];

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(repoRoot, 'bin/registry-setup.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the CLI on bad input', { skip: existsSync(path.join(repoRoot, 'dist/cli.mjs')) ? false : 'dist/cli.mjs is missing: npm test builds it first' }, () => {
  const tmp = new TempDirs();
  let home: string;
  before(async () => {
    home = await tmp.make('rs-cli-home-'); // no ~/.ssh of the machine's user is read or written
  });
  after(() => tmp.cleanup());

  const cli = (args: string[], input = ''): Promise<Run> =>
    new Promise((resolve) => {
      const child = execFile(process.execPath, [bin, ...args], { cwd: home, env: { ...process.env, HOME: home, NO_COLOR: '1' }, timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
      child.stdin?.end(input);
    });

  // port 1 on loopback refuses at once: reaching the connection step would show as ECONNREFUSED
  const target = 'root@127.0.0.1:1';
  const base = ['deploy', target, '--domain', 'r.example.com', '--user', 'admin', '--tls', 'self-signed', '--yes'];

  it('refuses bad settings before connecting, each with one line naming where the value came from', async () => {
    const config = path.join(home, 'registry-setup.yaml');
    writeFileSync(config, 'dir: relative/path\n');
    const cases: [string[], RegExp][] = [
      [[...base, '--domain', 'bad domain!'], /^registry-setup: --domain: "bad domain!" is not a host name/],
      [[...base, '--email', 'not-an-address'], /^registry-setup: --email: "not-an-address" is not an e-mail address/],
      [[...base, '--user', 'x y'], /^registry-setup: --user: "x y": use 1-64 letters/],
      [[...base, '--dir', 'relative'], /^registry-setup: --dir: must be an absolute path/],
      [[...base, '--http-port', '8080', '--https-port', '8080'], /^registry-setup: --https-port: must differ from the HTTP port/],
      [[...base, '--storage', 'http://x'], /^registry-setup: --storage: /],
      [[...base, '--storage', 's3://b/p?x=$y'], /^registry-setup: --storage: storage "s3:\/\/b\/p\?x=\$y" must not contain spaces or '\$' \(compose would read '\$' as a variable\)\n$/],
      [[...base, '--tls', 'custom', '--cert', path.join(home, 'missing.pem'), '--key', path.join(home, 'missing.key')], /^registry-setup: --cert .*missing\.pem: cannot read it \(ENOENT\)/],
      [['deploy', target, '--config', config], /^registry-setup: .*registry-setup\.yaml: dir: must be an absolute path on the host, not "relative\/path"/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /ECONNREFUSED|Connect|\n\s+at /, `${args.join(' ')}: no connection attempt, no stack\n${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });

  it('--publish-address: upgrade\'s flag is refused with deploy\'s line, before connecting', async () => {
    const line = 'registry-setup: --publish-address: publish address "nonsense" must be an IPv4 address or a bracketed IPv6 address\n';
    for (const args of [['upgrade', target, '--publish-address', 'nonsense'], [...base, '--publish-address', 'nonsense']]) {
      const r = await cli(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(r.stderr, line, `${args.join(' ')}: one line, no connection attempt\n${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });

  it('users: the name comes last, and a chosen password has the wizard\'s minimum length', async () => {
    const cases: [string[], string, RegExp][] = [
      [['users', 'remove', target], '', /^registry-setup: "root@127\.0\.0\.1:1" looks like a target, not a user name; the name comes last: registry-setup users remove \[targets\.\.\.\] <name>/],
      [['users', 'add'], '', /^registry-setup: give the user name: registry-setup users add \[targets\.\.\.\] <name>/],
      [['users', 'add', target, 'bob', '--password-stdin'], 'abc12', /^registry-setup: --password-stdin: the password is too short; use at least 8 characters/],
      [[...base, '--password-stdin'], 'abc12\n', /^registry-setup: --password-stdin: the password is too short/],
    ];
    for (const [args, input, message] of cases) {
      const r = await cli(args, input);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /Connect/, r.stderr);
      assert.ok(!input || !r.stderr.includes(input.trim()), 'the password is never echoed');
    }
  });

  it('--sudo-password-file: stdin claimed twice, an unreadable, empty or multi-line file: one line before connecting', async () => {
    const empty = path.join(home, 'empty-sudo');
    const twoLines = path.join(home, 'two-lines-sudo');
    writeFileSync(empty, '\n');
    writeFileSync(twoLines, 'first\nsecond\n');
    const secret = 'sudo-secret-on-stdin';
    const cases: [string[], string, RegExp][] = [
      [[...base, '--password-stdin', '--sudo-password-file', '-'], secret, /^registry-setup: --password-stdin and --sudo-password-file - cannot both read stdin: give one of them as a file$/m],
      [[...base, '--password-stdin', '--s3-credentials', '-', '--sudo-password-file', '-'], secret, /^registry-setup: --password-stdin and --s3-credentials - and --sudo-password-file - cannot all read stdin: give all but one as a file$/m],
      [['users', 'rotate', target, 'bob', '--password-stdin', '--sudo-password-file', '-'], secret, /^registry-setup: --password-stdin and --sudo-password-file - cannot both read stdin/m],
      [['status', target, '--sudo-password-file', path.join(home, 'missing')], '', /^registry-setup: --sudo-password-file .*missing: cannot read it \(ENOENT\)$/m],
      [['status', target, '--sudo-password-file', empty], '', /^registry-setup: --sudo-password-file .*empty-sudo: the file is empty$/m],
      [['status', target, '--sudo-password-file', twoLines], '', /^registry-setup: --sudo-password-file .*two-lines-sudo: holds more than one line; put only the password in it$/m],
      [['status', target, '--sudo-password-file', '-'], '', /^registry-setup: --sudo-password-file -: stdin was empty$/m],
    ];
    for (const [args, input, message] of cases) {
      const r = await cli(args, input);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /ECONNREFUSED|Connect|\n\s+at /, `${args.join(' ')}: no connection attempt, no stack\n${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!r.stderr.includes(secret));
    }
  });

  it('a first word one slip away from a command name is refused, not taken for a host to deploy to', async () => {
    for (const [word, meant] of [['stauts', 'status'], ['destory', 'destroy'], ['lgos', 'logs']]) {
      const r = await cli([word!, target]);
      assert.equal(r.code, 1, word);
      assert.match(r.stderr, new RegExp(`^registry-setup: unknown command '${word}' \\(did you mean ${meant}\\?\\); to deploy to a host named ${word}, say: registry-setup deploy ${word}`), r.stderr);
      assert.doesNotMatch(r.stderr, /Connect/);
    }
    for (const word of ['prod', 'myserver', 'gcp', 'root@stauts', 'status.example.com', 'deploy']) assert.equal(misspelledCommand(word, COMMANDS), undefined, word);
    assert.equal(misspelledCommand('Status', COMMANDS), 'status');
  });

  it('with --json, stdout holds a JSON error document for a bad value, a bad flag and a failed connection', async () => {
    for (const [args, message] of [
      [[...base, '--domain', 'bad domain!', '--json'], /--domain: "bad domain!" is not a host name/],
      [['logs', target, '--tail', 'abc', '--json'], /--tail "abc"/],
      [['status', target, '--json', '--no-such-flag'], /unknown option '--no-such-flag'/],
      [['status', target, '--json'], /ECONNREFUSED/],
    ] as [string[], RegExp][]) {
      const r = await cli(args);
      assert.equal(r.code, 1, args.join(' '));
      const lines = r.stdout.trim().split('\n');
      const last = JSON.parse(lines.at(-1)!) as { type: string; error: string };
      for (const line of lines) JSON.parse(line); // every line of stdout is JSON
      assert.equal(last.type, 'error', args.join(' '));
      assert.match(last.error, message, args.join(' '));
    }
  });

  it('colours follow the terminal of the stream they are written to', { skip: existsSync('/usr/bin/script') ? false : 'script (util-linux) is missing' }, async () => {
    // `script` gives the command a terminal; stderr goes to a file (or, the control, to the terminal)
    const inTerminal = (command: string) =>
      new Promise<string>((resolve) => {
        const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, TERM: 'xterm-256color' };
        // what makes chalk's colour detection say no (or yes) whatever the terminal: CI runs set CI
        for (const k of ['NO_COLOR', 'FORCE_COLOR', 'CI', 'TF_BUILD', 'AGENT_NAME', 'TEAMCITY_VERSION', 'GITHUB_ACTIONS', 'GITEA_ACTIONS']) delete env[k];
        execFile('script', ['-qec', command, '/dev/null'], { cwd: home, env, timeout: 30_000 }, (_err, stdout) => resolve(stdout));
      });
    const errFile = path.join(home, 'stderr.txt');
    const args = `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} status ${target}`;
    await inTerminal(`${args} 2>${JSON.stringify(errFile)}`);
    const redirected = readFileSync(errFile, 'utf8');
    assert.match(redirected, /Connect to root@127\.0\.0\.1:1/);
    assert.doesNotMatch(redirected, /\x1b\[/, 'no colour codes in redirected stderr');
    assert.match(await inTerminal(args), /\x1b\[3\dm/, 'colours on a terminal');
  });

  it('--help and --version exit 0 and print no error document', async () => {
    for (const args of [['status', '--help', '--json'], ['--version', '--json']]) {
      const r = await cli(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.doesNotMatch(r.stdout, /"type":"error"/);
    }
  });
});
