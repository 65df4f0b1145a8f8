// What `npx registry-setup` downloads: the CLI bundle loads no storage driver (the S3 SDK is a
// build-time dependency, inlined in the payload), and the laptop commands that run registry code
// (`serve`, local `gc`) run the payload bundle in a child process with the same flags, output,
// signals and exit codes as before.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { givenOptionArgs } from '../../src/cli/payload-args.js';
import { serveCommand } from '../../src/registry/serve-command.js';
import { startProcess, type ManagedProcess } from '../helpers/process.js';
import { ourRegistryBundle, repoRoot } from '../helpers/registries.js';
import { TempDirs } from '../helpers/tmp.js';

const bin = path.join(repoRoot, 'bin/registry-setup.js');
const dist = path.join(repoRoot, 'dist');
const built = existsSync(path.join(dist, 'cli.mjs')) && existsSync(ourRegistryBundle);
if (!built && process.env.CI) throw new Error('CI: dist/ is missing: npm test builds it first');
const skip = built ? false : 'dist/ is missing: run `npm run build` (npm test builds it first)';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The processes a process started (any of its threads may have forked). */
function childrenOf(pid: number): number[] {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
}

const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
/**
 * The modules a bundle loads when it runs: static and dynamic imports and requires, in statement
 * position (the SDK's error messages quote `require("@aws-sdk/…")` inside strings).
 */
function runtimeImports(file: string): string[] {
  const re = /(?:^|[\s;(,=])(?:import\s*(?:[\w*${}\s,]+?\s*from\s*)?|import\s*\(\s*|(?:__)?require\s*\(\s*)["']([^"'\n]+)["']/gm;
  return [...new Set([...readFileSync(file, 'utf8').matchAll(re)].map((m) => m[1]!))];
}
const SDK = /^@(?:aws-sdk|smithy|aws-crypto)\//;

const optionLines = (help: string): string[] => help.split('\n').filter((l) => /^\s+-/.test(l)).map((l) => l.trim());

describe('the options a user gave, as arguments for the payload', () => {
  it('forwards given values as --name=value (repeatable ones in order), flags as given, and no defaults', async () => {
    const seen: string[][] = [];
    const cmd = serveCommand(async (_f, c) => {
      seen.push(givenOptionArgs(c));
    });
    const parse = (args: string[]) => new Command('t').exitOverride().addCommand(cmd.exitOverride()).parseAsync(['serve', ...args], { from: 'user' });
    await parse(['--port', '0', '--mirror', 'docker.io=https://a', '--realm', '-dash first', '--mirror', 'quay.io=https://b', '--no-ui', '--read-only']);
    assert.deepEqual(seen.pop()!.sort(), ['--mirror=docker.io=https://a', '--mirror=quay.io=https://b', '--no-ui', '--port=0', '--read-only', '--realm=-dash first'].sort());
    // the repeatable option keeps its order
    await parse(['--mirror', 'b=https://b', '--mirror', 'a=https://a']);
    assert.deepEqual(seen.pop(), ['--mirror=b=https://b', '--mirror=a=https://a']);
    await parse([]);
    assert.deepEqual(seen.pop(), [], 'defaults (--mirror [], ui true) are the payload\'s own');
  });
});

describe('what npx downloads', { skip }, () => {
  it('the CLI bundle imports no S3 SDK, which is a build-time dependency only', () => {
    const cliImports = runtimeImports(path.join(dist, 'cli.mjs'));
    assert.ok(cliImports.includes('commander') && cliImports.includes('ssh2'), `the scan finds the bundle's imports: ${cliImports.join(' ')}`);
    assert.deepEqual(cliImports.filter((s) => SDK.test(s)), [], 'dist/cli.mjs loads the S3 SDK');
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.deepEqual(Object.keys(pkg.dependencies).filter((d) => SDK.test(d)), [], 'npx would install the S3 SDK');
    // the payload carries the SDK inlined (the registry image copies dist/registry/ only, no node_modules)
    const chunks = readdirSync(path.join(dist, 'registry', 'chunks')).map((f) => path.join(dist, 'registry', 'chunks', f));
    const payloadImports = [ourRegistryBundle, ...chunks].flatMap(runtimeImports);
    assert.ok(payloadImports.some((s) => s.startsWith('./chunks/')), 'the scan finds the payload\'s imports');
    assert.deepEqual(payloadImports.filter((s) => SDK.test(s)), [], 'the payload loads the SDK from node_modules');
    assert.match(chunks.map((f) => readFileSync(f, 'utf8')).join('\n'), /\bS3Client\d* = class\b/, 'the payload inlines the S3 client');
  });
});

describe('registry-setup serve and gc --data run the payload bundle', { skip }, () => {
  const tmp = new TempDirs();
  let dir: string;
  let data: string;
  before(async () => {
    dir = await tmp.make('rs-cli-payload-');
    data = path.join(dir, 'data');
  });
  after(() => tmp.cleanup());

  const startServe = async (): Promise<{ proc: ManagedProcess; url: string; child: number }> => {
    const proc = startProcess(process.execPath, [bin, 'serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--realm', 'payload test'], { name: 'registry-setup serve', cwd: dir });
    const m = await proc.waitForLine(/^registry listening on (http:\/\/127\.0\.0\.1:\d+)/, 20_000).catch((e: Error) => assert.fail(`${e.message}\n${proc.logTail()}`));
    const children = childrenOf(proc.pid);
    assert.equal(children.length, 1, `one child process: ${children.join(', ')}`);
    return { proc, url: m[1]!, child: children[0]! };
  };

  it('serve: the registry runs in the payload with the flags given; SIGTERM to the CLI stops it cleanly, exit 0', async () => {
    const { proc, url, child } = await startServe();
    try {
      assert.deepEqual(cmdline(child), [process.execPath, ourRegistryBundle, 'serve', '--host=127.0.0.1', '--port=0', '--data=' + data, '--realm=payload test']);
      const res = await fetch(`${url}/v2/`);
      assert.equal(res.status, 200, proc.logTail());
      // an orphan blob, for gc below
      const blob = Buffer.from('an orphan blob pushed through registry-setup serve');
      const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
      const put = await fetch(`${url}/v2/payload/test/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob });
      assert.equal(put.status, 201, await put.text());
    } finally {
      const exit = await proc.stop(10_000);
      assert.deepEqual({ code: exit.code, killed: exit.killed }, { code: 0, killed: false }, proc.logTail());
    }
    assert.match(proc.logTail(), /SIGTERM: finishing in-flight requests/);
    assert.match(proc.logTail(), /\bstopped$/m);
    assert.equal(alive(child), false, 'the payload process is gone');
  });

  it('serve: the exit of the payload is the exit of the CLI (killed: 128 + signal)', async () => {
    const { proc, child } = await startServe();
    process.kill(child, 'SIGKILL');
    const exit = await Promise.race([proc.exited, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`the CLI outlived its payload\n${proc.logTail()}`)), 10_000))]);
    assert.deepEqual(exit, { code: 137, signal: null });
  });

  it('serve: when the CLI is killed outright, the payload stops too (no registry left behind)', async () => {
    const { proc, child } = await startServe();
    process.kill(proc.pid, 'SIGKILL');
    // not `proc.exited`: the payload holds the CLI's output pipes open for as long as it lives
    const deadline = Date.now() + 10_000;
    while (alive(child) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const left = alive(child);
    if (left) process.kill(child, 'SIGKILL');
    assert.equal(left, false, `the payload ${child} outlived the CLI\n${proc.logTail()}`);
    await proc.exited;
  });

  it('serve: bad input is one line of the CLI\'s, no stack; the help is the payload\'s, under the CLI\'s name', async () => {
    const bad = await cli(['serve', '--port', 'abc'], dir);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'registry-setup: --port: "abc" is not a port number (0-65535)\n');
    const help = await cli(['serve', '--help'], dir);
    assert.match(help.stdout, /^Usage: registry-setup serve \[options\]/);
    const payloadHelp = await new Promise<string>((resolve, reject) => execFile(process.execPath, [ourRegistryBundle, 'serve', '--help'], (err, stdout) => (err ? reject(err) : resolve(stdout))));
    assert.ok(optionLines(payloadHelp).length > 20, payloadHelp);
    assert.deepEqual(optionLines(help.stdout), optionLines(payloadHelp));
  });

  it('gc --data --json: JSON lines, the last the result with the payload\'s report; a failure ends with the error line', async () => {
    const r = await cli(['gc', '--data', data, '--json', '--grace', '0s', '--settle', '0s'], dir);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; report?: { deletedBlobs: string[]; dryRun: boolean } });
    const result = lines.at(-1)!;
    assert.equal(result.type, 'result', r.stdout);
    assert.equal(result.report?.dryRun, false);
    assert.equal(result.report?.deletedBlobs.length, 1, r.stdout);
    assert.match(r.stderr, /^gc: scanned \d+ repositories/m, 'the collector\'s progress on stderr');

    const human = await cli(['gc', '--data', data, '--dry-run'], dir);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^garbage collection of .*data \(dry run: nothing was deleted\)\n {2}in use: 0 manifests, 0 blobs\n {2}would delete: nothing\n/);

    const missing = await cli(['gc', '--data', path.join(dir, 'nope'), '--json'], dir);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^registry-setup: .*nope: no such data directory/m);
    assert.doesNotMatch(missing.stderr, /\n\s+at /, 'no stack');
    const last = JSON.parse(missing.stdout.trim().split('\n').at(-1)!) as { type: string; error: string };
    assert.equal(last.type, 'error');
    assert.match(last.error, /nope: no such data directory/);
  });
});
