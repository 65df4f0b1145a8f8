// The deploy testbed: this machine as the target over a real sshd, the local Docker engine, stand-in
// base images, and the real CLI run as a subprocess with its own HOME (so known_hosts, logs and
// registry-setup.yaml are private to the test).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { execa, type Result } from 'execa';
import { startSshd, type TestSshd } from './sshd.js';
import { ensureNginxImage, ensureNodeImage } from './standin-images.js';
import { freePort } from './net.js';
import { makeTempDir, removeDir } from './tmp.js';
import { repoRoot } from './registries.js';

/** One more deployment on this machine: its own install dir, compose project and ports. */
export interface ExtraStack {
  installDir: string;
  project: string;
  httpPort: number;
  httpsPort: number;
}

export interface DeployBed {
  sshd: TestSshd;
  home: string;
  installDir: string;
  project: string;
  httpPort: number;
  httpsPort: number;
  nodeImage: string;
  nginxImage: string;
  /** runs `registry-setup <args>` with the bed's HOME and cwd; never throws (check exitCode) */
  cli(args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<Result>;
  /** the common deploy flags for this bed */
  deployArgs(extra?: string[]): string[];
  /** another stack beside the bed's own (several hosts on one machine); cleaned up with the bed */
  stack(suffix: string): Promise<ExtraStack>;
  /** docker compose down + remove the install dir and HOME */
  cleanup(): Promise<void>;
}

async function twoPorts(): Promise<[number, number]> {
  const httpPort = await freePort();
  let httpsPort = await freePort();
  while (httpsPort === httpPort) httpsPort = await freePort();
  return [httpPort, httpsPort];
}

async function composeDown(stack: { project: string; installDir: string }): Promise<void> {
  await execa('docker-compose', ['-p', stack.project, '-f', path.join(stack.installDir, 'compose.yaml'), 'down', '--remove-orphans'], { reject: false });
}

export async function startDeployBed(name: string): Promise<DeployBed> {
  const [nodeImage, nginxImage] = await Promise.all([ensureNodeImage(), ensureNginxImage()]);
  const sshd = await startSshd();
  const home = await makeTempDir(`rs-${name}-home-`);
  mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
  const installDir = await makeTempDir(`rs-${name}-install-`);
  const project = `rs-${name}-${process.pid}`;
  const [httpPort, httpsPort] = await twoPorts();
  const extra: ExtraStack[] = [];
  const bed: DeployBed = {
    sshd,
    home,
    installDir,
    project,
    httpPort,
    httpsPort,
    nodeImage,
    nginxImage,
    cli: (args, opts = {}) =>
      execa(process.execPath, [path.join(repoRoot, 'bin/registry-setup.js'), ...args], {
        cwd: home,
        env: { HOME: home, NO_COLOR: '1', SSH_AUTH_SOCK: '', ...opts.env },
        extendEnv: true,
        input: opts.input ?? '',
        reject: false,
        timeout: 10 * 60_000,
      }),
    deployArgs: (extra = []) => [
      'deploy',
      sshd.target('root'),
      '-i',
      sshd.clientKeyPath,
      '--yes',
      '--domain',
      'localhost',
      '--user',
      'admin',
      '--tls',
      'self-signed',
      '--http-port',
      String(httpPort),
      '--https-port',
      String(httpsPort),
      '--dir',
      installDir,
      '--node-image',
      nodeImage,
      '--nginx-image',
      nginxImage,
      '--compose-project',
      project,
      '--publish-address',
      '127.0.0.1',
      ...extra,
    ],
    stack: async (suffix) => {
      const [http, https] = await twoPorts();
      const stack = { installDir: await makeTempDir(`rs-${name}-${suffix}-install-`), project: `${project}-${suffix}`, httpPort: http, httpsPort: https };
      extra.push(stack);
      return stack;
    },
    cleanup: async () => {
      await Promise.all([{ project, installDir }, ...extra].map(composeDown));
      await sshd.stop();
      for (const dir of [installDir, ...extra.map((s) => s.installDir), home]) await removeDir(dir);
    },
  };
  return bed;
}

/**
 * The result of a `--json` run, checked against the convention every command follows (README,
 * "--json"): stdout is JSON lines, each with a type, and the last line is the result.
 */
export function jsonResult(stdout: string): Record<string, any> {
  const lines = stdout.split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 0, 'nothing on stdout');
  const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const e of events) assert.equal(typeof e.type, 'string', `a line without a type: ${JSON.stringify(e)}`);
  const last = events.at(-1)!;
  assert.equal(last.type, 'result', `the last line is not the result: ${lines.at(-1)}`);
  assert.equal(events.filter((e) => e.type === 'result').length, 1, 'exactly one result line');
  return last as Record<string, any>;
}

/** The JSON events a `--json` run printed. */
export function jsonEvents(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
