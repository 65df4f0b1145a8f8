// End to end on this machine: the deployment steps (directories, files, self-signed TLS by the
// step's own openssl argv, compose up, nginx reload) run by a small local executor, with the
// stand-in node and nginx images, compose v1 (docker-compose 1.29: the compose v2 plugin is not
// installed here), ports on free loopback ports and a project name of its own. Then the registry is
// checked through nginx over TLS, the ACME webroot and the http redirect, the health check, a
// recreated registry container, and everything is torn down.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, test } from 'node:test';
import type { DeploySettings } from '../../src/settings/settings.js';
import {
  composeArgv,
  composeDownArgv,
  installDirArgv,
  installFileArgv,
  nginxReloadPlan,
  registryHealthcheckArgv,
  renderDeploymentFiles,
  selfSignedTlsStep,
  startPlan,
  tlsPaths,
  type Argv,
  type ComposeTarget,
  type Step,
} from '../../src/provision/index.js';
import { HOST_LAYOUT, registryImageTag } from '../../src/templates/render.js';
import { readRegistryPayload } from '../../src/version.js';
import { run } from '../helpers/exec.js';
import { writeHtpasswd } from '../helpers/htpasswd.js';
import { basicAuth, freePort } from '../helpers/net.js';
import { ensureNginxImage, ensureNodeImage } from '../helpers/standin-images.js';
import { TempDirs } from '../helpers/tmp.js';

const BUNDLE = new URL('../../dist/registry/registry.mjs', import.meta.url);

async function problem(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (file owners 101/1000)';
  for (const [cmd, args] of [
    ['docker', ['info', '--format', '{{.ServerVersion}}']],
    ['docker-compose', ['version', '--short']],
    ['htpasswd', ['-h']],
  ] as const) {
    const r = await run(cmd, args, { allowFailure: true, timeoutMs: 30_000 }).catch((e: Error) => ({ code: -1, stderr: e.message }));
    // htpasswd -h exits 2 after printing its usage
    if (r.code !== 0 && !(cmd === 'htpasswd' && r.code === 2)) return `${cmd} is not usable: ${r.stderr.split('\n')[0]}`;
  }
  if (!existsSync(BUNDLE)) return 'dist/registry/registry.mjs is missing: run `npm run build`';
  return undefined;
}

const why = await problem();
if (why && process.env.CI) test('smoke test prerequisites', () => assert.fail(why));

const tmp = new TempDirs();
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  await tmp.cleanup();
});

function exec(argv: Argv, timeoutMs = 300_000) {
  return run(argv[0]!, argv.slice(1), { allowFailure: true, timeoutMs });
}

/** The executor contract of Step, locally: check → skip; files via temp + install; commands in order. */
async function runSteps(steps: Step[], scratch: string): Promise<string[]> {
  const log: string[] = [];
  for (const step of steps) {
    if (step.check && (await exec(step.check)).code === 0) {
      log.push(`${step.id}: skipped`);
      continue;
    }
    for (const [i, file] of (step.files ?? []).entries()) {
      const temp = join(scratch, `upload-${step.id}-${i}`);
      await writeFile(temp, file.content);
      const r = await exec(installFileArgv(temp, file));
      assert.equal(r.code, 0, `${step.id}: installing ${file.path}: ${r.stderr}`);
    }
    for (const argv of step.commands) {
      const r = await exec(argv);
      assert.equal(r.code, 0, `${step.id}: ${argv.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
    }
    log.push(`${step.id}: done`);
  }
  return log;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: string;
}

interface RequestOptions {
  ca?: Buffer;
  servername?: string;
  host?: string;
  auth?: string;
  method?: string;
  body?: Buffer;
}

function get(url: string, opts: RequestOptions = {}): Promise<Answer> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method: opts.method ?? 'GET',
        ca: opts.ca,
        servername: opts.servername,
        headers: {
          ...(opts.host ? { host: opts.host } : {}),
          ...(opts.auth ? { authorization: opts.auth } : {}),
          ...(opts.body ? { 'content-type': 'application/octet-stream', 'content-length': String(opts.body.length) } : {}),
        },
        timeout: 5_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, diagnostics: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
      last = 'not yet';
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})\n${await diagnostics()}`);
    await delay(250);
  }
}

test('deploys with compose v1 and answers through nginx over TLS', { skip: why ?? false, timeout: 900_000 }, async () => {
  const [nodeImage, nginxImage] = await Promise.all([ensureNodeImage(), ensureNginxImage()]);
  const root = await tmp.make('rs-smoke-');
  const scratch = await tmp.make('rs-smoke-uploads-');
  const id = randomBytes(4).toString('hex');
  const version = `0.0.0-smoke.${id}`;
  const domain = 'registry.test';
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const httpPort = await freePort();
  let httpsPort = await freePort();
  while (httpsPort === httpPort) httpsPort = await freePort();

  const settings: DeploySettings = {
    target: 'localhost',
    domain,
    user: 'smoke',
    tls: 'self-signed',
    httpPort,
    httpsPort,
    dir: join(root, 'opt', 'registry-setup'),
    dataDir: join(root, 'data'),
    nodeImage,
    nginxImage,
  };
  const htpasswdFile = await writeHtpasswd(join(scratch, 'htpasswd'), [{ user: 'smoke', password }]);
  const target: ComposeTarget = { kind: 'v1', dir: settings.dir, project: `rs-smoke-${id}` };
  cleanups.push(() => exec(['docker', 'rmi', '-f', registryImageTag(version)], 60_000));
  cleanups.push(() => exec(composeDownArgv(target, '-v', '--timeout', '5'), 120_000));
  const logs = async (): Promise<string> => {
    const r = await exec(composeArgv(target, 'logs', '--no-color', '--tail', '60'), 60_000);
    const ps = await exec(composeArgv(target, 'ps'), 60_000);
    return `--- compose ps ---\n${ps.stdout}${ps.stderr}\n--- compose logs ---\n${r.stdout}${r.stderr}`;
  };

  // The steps production's deploy runs on a new host, from the same plan functions: directories,
  // files, the self-signed certificate, then start (build + up); the reload as a re-run that
  // changed the certificate would do it, once nginx runs.
  const rendered = renderDeploymentFiles(settings, {
    version,
    registryPayload: readRegistryPayload(),
    htpasswd: await readFile(htpasswdFile, 'utf8'),
    uploadSecret: randomBytes(32).toString('base64url'),
    // deploy always writes the CI tokens file (empty without tokens): the registry reads it at start
    ciTokens: '',
    publishAddress: '127.0.0.1',
    healthcheck: { interval: '1s', timeout: '3s', retries: 3, startPeriod: '5s' },
  });
  const changedFiles = rendered.files.map((f) => f.path);
  const start = startPlan({ target, version, composeInstalled: true, changedFiles, containers: [], imagePresent: false });
  const reload = nginxReloadPlan({ target, nginxRunning: true, changedFiles, tlsChanged: true, registryRecreated: false });
  const steps: Step[] = [
    { id: 'deploy-directories', name: 'directories', commands: rendered.directories.map(installDirArgv), needsSudo: true },
    { id: 'deploy-files', name: 'files', commands: [], files: rendered.files, needsSudo: true },
    selfSignedTlsStep(settings),
    { id: 'compose-up', name: 'start', commands: start.commands, needsSudo: true },
    { id: 'nginx-reload', name: 'reload', commands: reload, needsSudo: true },
  ];
  const log = await runSteps(steps, scratch).catch(async (e: Error) => assert.fail(`${e.message}\n${await logs()}`));
  assert.deepEqual(log, ['deploy-directories: done', 'deploy-files: done', 'tls-self-signed: done', 'compose-up: done', 'nginx-reload: done']);

  const ca = await readFile(tlsPaths(settings.dir).certificate);
  const v2 = `https://127.0.0.1:${httpsPort}/v2/`;
  const tlsOpts = { ca, servername: domain, host: `${domain}:${httpsPort}` };

  // 401 without credentials, through nginx, with a certificate valid for the domain
  const denied = await until('401 from /v2/ through nginx', 120_000, async () => {
    const a = await get(v2, tlsOpts);
    return a.status === 401 ? a : undefined;
  }, logs);
  assert.match(String(denied.headers['www-authenticate']), /^Basic realm="Registry Realm"/);
  const apiHeaders = denied.rawHeaders.filter((_, i) => i % 2 === 0 && denied.rawHeaders[i]!.toLowerCase() === 'docker-distribution-api-version');
  assert.equal(apiHeaders.length, 1, `Docker-Distribution-Api-Version exactly once: ${JSON.stringify(denied.rawHeaders)}`);
  assert.equal(denied.headers['docker-distribution-api-version'], 'registry/2.0');

  const allowed = await get(v2, { ...tlsOpts, auth: basicAuth('smoke', password) });
  assert.equal(allowed.status, 200, allowed.body);
  assert.equal((await get(v2, { ...tlsOpts, auth: basicAuth('smoke', 'wrong') })).status, 401);

  // an upload through the proxy: the Location it answers with leads back through nginx, and the
  // blob lands in the data directory (writable by uid 1000)
  const auth = basicAuth('smoke', password);
  const blob = Buffer.from(`smoke blob ${id}\n`);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const started = await get(`https://127.0.0.1:${httpsPort}/v2/smoke/test/blobs/uploads/`, { ...tlsOpts, auth, method: 'POST' });
  assert.equal(started.status, 202, started.body);
  const location = new URL(String(started.headers.location), `https://${domain}:${httpsPort}/`);
  assert.equal(location.origin, `https://${domain}:${httpsPort}`, `Location: ${started.headers.location}`);
  location.searchParams.set('digest', digest);
  const put = await get(`https://127.0.0.1:${httpsPort}${location.pathname}${location.search}`, { ...tlsOpts, auth, method: 'PUT', body: blob });
  assert.equal(put.status, 201, put.body);
  const fetched = await get(`https://127.0.0.1:${httpsPort}/v2/smoke/test/blobs/${digest}`, { ...tlsOpts, auth });
  assert.equal(fetched.status, 200);
  assert.equal(fetched.body, blob.toString());
  const hex = digest.slice('sha256:'.length);
  assert.ok(existsSync(join(settings.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data')), 'blob stored in the data directory');

  // port 8080: ACME challenge files from the webroot, everything else redirected to https with the port
  const token = `token-${id}`;
  const challenge = join(settings.dir, HOST_LAYOUT.acmeChallengeDir, token);
  await writeFile(challenge, `${token}.thumbprint`);
  await chmod(challenge, 0o644);
  const acme = await get(`http://127.0.0.1:${httpPort}/.well-known/acme-challenge/${token}`, { host: domain });
  assert.equal(acme.status, 200);
  assert.equal(acme.body, `${token}.thumbprint`);
  assert.equal((await get(`http://127.0.0.1:${httpPort}/.well-known/acme-challenge/missing`, { host: domain })).status, 404);
  const redirect = await get(`http://127.0.0.1:${httpPort}/v2/_catalog?n=1`, { host: `${domain}:${httpPort}` });
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.location, `https://${domain}:${httpsPort}/v2/_catalog?n=1`);

  // the registry's health check: run directly, and as docker sees it
  const hc = await exec(registryHealthcheckArgv(target), 60_000);
  assert.equal(hc.code, 0, `healthcheck: ${hc.stderr}`);
  const registryId = (await exec(composeArgv(target, 'ps', '-q', 'registry'), 60_000)).stdout.trim();
  assert.match(registryId, /^[0-9a-f]{12,}$/);
  await until('the registry container to be healthy', 60_000, async () => {
    const r = await exec(['docker', 'inspect', '--format', '{{.State.Health.Status}}', registryId], 30_000);
    return r.stdout.trim() === 'healthy' ? true : undefined;
  }, logs);

  // the containers run as their unprivileged users on read-only root file systems
  for (const [service, user] of [['registry', '1000:1000'], ['nginx', '101:101']] as const) {
    const cid = (await exec(composeArgv(target, 'ps', '-q', service), 60_000)).stdout.trim();
    const r = await exec(['docker', 'inspect', '--format', '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}}', cid], 30_000);
    assert.equal(r.stdout.trim(), `${user} true [ALL]`, service);
  }

  // A recreated registry container with a NEW address is found again by nginx (resolver + variable
  // proxy_pass). Docker would hand the old address straight back, so a placeholder container takes it.
  const inspectNet = async (cid: string): Promise<[string, string]> => {
    const r = await exec(['docker', 'inspect', '--format', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}}{{end}}', cid], 30_000);
    const [net = '', ip = ''] = r.stdout.trim().split(' ');
    return [net, ip];
  };
  const [network, oldIp] = await inspectNet(registryId);
  assert.match(oldIp, /^\d+\.\d+\.\d+\.\d+$/);
  assert.equal((await exec(composeArgv(target, 'stop', '-t', '5', 'registry'), 120_000)).code, 0);
  const holder = `rs-smoke-holder-${id}`;
  cleanups.push(() => exec(['docker', 'rm', '-f', holder], 60_000));
  const hold = await exec(['docker', 'run', '-d', '--name', holder, '--network', network, '--user', '1000:1000', nodeImage, 'node', '-e', 'setTimeout(() => {}, 600000)'], 120_000);
  assert.equal(hold.code, 0, hold.stderr);
  const recreate = await exec(composeArgv(target, 'up', '-d', '--no-deps', '--force-recreate', 'registry'), 300_000);
  assert.equal(recreate.code, 0, recreate.stderr);
  const newId = (await exec(composeArgv(target, 'ps', '-q', 'registry'), 60_000)).stdout.trim();
  const [, newIp] = await inspectNet(newId);
  assert.notEqual(newIp, oldIp, 'the recreated registry has a new address');
  await until('401 again after the registry was recreated', 60_000, async () => {
    const a = await get(v2, tlsOpts);
    return a.status === 401 ? a : undefined;
  }, logs);
  await exec(['docker', 'rm', '-f', holder], 60_000);

  // a re-run changes nothing: the TLS step is skipped by its check
  const rerun = await runSteps(steps, scratch);
  assert.deepEqual(rerun, ['deploy-directories: done', 'deploy-files: done', 'tls-self-signed: skipped', 'compose-up: done', 'nginx-reload: done']);
  await until('401 after the re-run', 60_000, async () => ((await get(v2, tlsOpts)).status === 401 ? true : undefined), logs);

  const down = await exec(composeDownArgv(target, '-v', '--timeout', '5'), 120_000);
  assert.equal(down.code, 0, down.stderr);
});
