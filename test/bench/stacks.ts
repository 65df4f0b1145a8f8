// The two deployed stacks the stack benchmark compares, both on this machine's Docker engine and
// reached over HTTPS on loopback with the same user and password:
// - ours: what `registry-setup deploy` writes (nginx + our registry), deployed unchanged through the
//   end-to-end test bed (sshd on loopback, stand-in base images, --tls self-signed);
// - classic: the hand-built stack of classic-stack/ (nginx + distribution, bcrypt htpasswd),
//   started with docker-compose v1 as its guide does.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { jsonEvents, startDeployBed, type DeployBed } from '../helpers/deploy-bed.js';
import { run } from '../helpers/exec.js';
import { writeHtpasswd } from '../helpers/htpasswd.js';
import { basicAuth, freePort } from '../helpers/net.js';
import { repoRoot } from '../helpers/registries.js';
import { ensureDistributionImage, ensureNginxImage } from '../helpers/standin-images.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';
import { BenchError } from './client.js';

export type StackKind = 'ours' | 'classic';
export const STACK_KINDS: readonly StackKind[] = ['ours', 'classic'];
export const STACK_USER = 'admin';
/** The certificates' name; the stacks listen on 127.0.0.1, which the clients connect to by this name. */
export const STACK_DOMAIN = 'localhost';

export interface RunningStack {
  kind: StackKind;
  /** https://localhost:<port> */
  url: string;
  /** the certificate to trust (ours: the self-signed one; classic: the test CA that issued certbot's) */
  ca: Buffer;
  authorization: string;
  /** container name or id by role */
  containers: { nginx: string; registry: string };
  /** host ports published by the stack (their docker-proxy processes are measured apart) */
  hostPorts: number[];
  /** what runs, for the report */
  describe: string;
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
  /** classic: certbot's configuration directory (its letsencrypt/), the certificate's name, its cron file */
  certbot?: { root: string; name: string; cron: string };
}

type Progress = (line: string) => void;

async function composeContainer(project: string, service: string): Promise<string> {
  const r = await run('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`], { timeoutMs: 20_000 });
  const ids = r.stdout.split('\n').filter(Boolean);
  if (ids.length !== 1) throw new BenchError(`compose project ${project}: ${ids.length} running ${service} containers, expected 1`);
  return ids[0]!;
}

async function containerLogs(ids: string[], lines: number): Promise<string> {
  const parts: string[] = [];
  for (const id of ids) {
    const r = await run('docker', ['logs', '--tail', String(lines), id], { allowFailure: true, timeoutMs: 20_000 });
    parts.push(`--- ${id.slice(0, 12)} ---\n${r.stdout}${r.stderr}`.trimEnd());
  }
  return parts.join('\n');
}

/** GET /v2/ until it answers 401 (the stack is up and asks for credentials), within the deadline. */
async function waitForStack(url: string, ca: Buffer, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    const status = await new Promise<number | string>((resolve) => {
      const req = https.get(`${url}/v2/`, { ca, family: 4, timeout: 2_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve(e.message));
    });
    if (status === 401) return;
    last = String(status);
    await delay(250);
  }
  throw new BenchError(`${url}/v2/ did not answer 401 within ${timeoutMs / 1000} s (last: ${last})`);
}

/**
 * certbot's files as `certbot certonly` leaves them, under <etc>/letsencrypt: archive/<name>/
 * {cert,chain,fullchain,privkey}1.pem, live/<name>/*.pem symlinks into ../../archive/<name>/,
 * renewal/<name>.conf, and the Debian package's cron file <etc>/cron.d/certbot. The certificate
 * is issued by a test CA (P-256, like Let's Encrypt's ECDSA chain), not self-signed: our renewal
 * orders anew at once for a self-signed one.
 */
async function writeCertbotLayout(etc: string, name: string): Promise<{ root: string; caFile: string; cron: string }> {
  const root = join(etc, 'letsencrypt');
  const archive = join(root, 'archive', name);
  const live = join(root, 'live', name);
  const work = join(etc, 'test-ca');
  await Promise.all([archive, live, join(root, 'renewal'), join(etc, 'cron.d'), work].map((d) => mkdir(d, { recursive: true })));
  const openssl = (args: string[]) => run('openssl', args, { timeoutMs: 30_000 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-days', '3', '-subj', '/CN=registry-setup test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-keyout', join(work, 'ca.key'), '-out', join(work, 'ca.pem')]);
  await openssl(['req', ...ec, '-subj', `/CN=${name}`, '-keyout', join(archive, 'privkey1.pem'), '-out', join(work, 'leaf.csr')]);
  await writeFile(join(work, 'leaf.ext'), `subjectAltName=DNS:${name}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  await openssl(['x509', '-req', '-in', join(work, 'leaf.csr'), '-CA', join(work, 'ca.pem'), '-CAkey', join(work, 'ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', join(work, 'leaf.ext'), '-out', join(archive, 'cert1.pem')]);
  const [leaf, ca] = await Promise.all([readFile(join(archive, 'cert1.pem')), readFile(join(work, 'ca.pem'))]);
  await writeFile(join(archive, 'chain1.pem'), ca);
  await writeFile(join(archive, 'fullchain1.pem'), Buffer.concat([leaf, ca]));
  await chmod(join(archive, 'privkey1.pem'), 0o600);
  for (const file of ['cert', 'chain', 'fullchain', 'privkey']) await symlink(`../../archive/${name}/${file}1.pem`, join(live, `${file}.pem`));
  await writeFile(join(root, 'renewal', `${name}.conf`), [
    '# renew_before_expiry = 30 days', 'version = 2.1.0',
    `archive_dir = ${archive}`, `cert = ${live}/cert.pem`, `privkey = ${live}/privkey.pem`, `chain = ${live}/chain.pem`, `fullchain = ${live}/fullchain.pem`,
    '', '[renewalparams]', 'authenticator = webroot', 'server = https://acme-v02.api.letsencrypt.org/directory', '',
  ].join('\n'));
  const cron = join(etc, 'cron.d', 'certbot');
  // the Debian package's /etc/cron.d/certbot, as shipped
  await writeFile(cron, [
    '# /etc/cron.d/certbot: crontab entries for the certbot package', '#', '# Upstream recommends attempting renewal twice a day', '#',
    'SHELL=/bin/sh', 'PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin', '',
    '0 */12 * * * root test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e \'sleep int(rand(43200))\' && certbot -q renew --no-random-sleep-on-renew', '',
  ].join('\n'));
  return { root, caFile: join(work, 'ca.pem'), cron };
}

/** The classic stack's compose project: fixture files rendered into a fresh working directory. */
export async function startClassicStack(password: string, progress: Progress): Promise<RunningStack> {
  const [registryImage, nginxImage] = await Promise.all([ensureDistributionImage(), ensureNginxImage()]);
  const dir = await makeTempDir('rs-classic-');
  const project = `rs-classic-${process.pid}-${randomBytes(3).toString('hex')}`;
  const composeFile = join(dir, 'compose.yaml');
  const compose = (args: string[], timeoutMs = 120_000) => run('docker-compose', ['-p', project, '-f', composeFile, ...args], { cwd: dir, timeoutMs, allowFailure: true });
  const stop = async () => {
    await compose(['down', '--volumes', '--remove-orphans']);
    await removeDir(dir);
  };
  try {
    const httpsPort = await freePort();
    const fill = (text: string, values: Record<string, string>) => text.replace(/\{\{(\w+)\}\}/g, (_, k: string) => values[k] ?? `{{${k}}}`);
    const fixture = join(repoRoot, 'test', 'bench', 'classic-stack');
    await mkdir(join(dir, 'registry', 'data'), { recursive: true });
    await mkdir(join(dir, 'nginx'), { recursive: true });
    await writeFile(composeFile, fill(await readFile(join(fixture, 'compose.yaml'), 'utf8'), { registryImage, nginxImage, httpsPort: String(httpsPort) }));
    await writeFile(join(dir, 'nginx', 'nginx.conf'), fill(await readFile(join(fixture, 'nginx.conf'), 'utf8'), { domain: STACK_DOMAIN }));
    // The guide: htpasswd -Bbn (bcrypt at htpasswd's default cost, 5); here through stdin, not argv.
    await writeHtpasswd(join(dir, 'registry', 'registry.password'), [{ user: STACK_USER, password }]);
    // certbot's certificate in certbot's layout (the compose directory stands in for /etc)
    const certbot = await writeCertbotLayout(dir, STACK_DOMAIN);
    progress(`classic: docker-compose up (project ${project})`);
    const up = await compose(['up', '-d'], 300_000);
    if (up.code !== 0) throw new BenchError(`docker-compose up failed: ${up.stderr.trim().split('\n').slice(-10).join('\n')}`);
    const containers = { nginx: await composeContainer(project, 'nginx'), registry: await composeContainer(project, 'registry') };
    const port5000 = await run('docker', ['port', containers.registry, '5000/tcp'], { timeoutMs: 20_000 });
    const registryPort = Number(/:(\d+)\s*$/m.exec(port5000.stdout)?.[1]);
    const ca = await readFile(certbot.caFile);
    const url = `https://${STACK_DOMAIN}:${httpsPort}`;
    try {
      await waitForStack(url, ca, 60_000);
    } catch (e) {
      throw new BenchError(`${(e as Error).message}\n${await containerLogs([containers.nginx, containers.registry], 30)}`);
    }
    return {
      kind: 'classic',
      url,
      ca,
      authorization: basicAuth(STACK_USER, password),
      containers,
      hostPorts: [httpsPort, ...(Number.isInteger(registryPort) ? [registryPort] : [])],
      describe: `nginx (${nginxImage}) + distribution (${registryImage}), bcrypt cost 5 htpasswd, docker-compose v1, ${url}`,
      logTail: (lines = 30) => containerLogs([containers.nginx, containers.registry], lines),
      stop,
      certbot: { root: certbot.root, name: STACK_DOMAIN, cron: certbot.cron },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Ours: `registry-setup deploy` through the test bed, as the deploy timing runs it, with a version
 * of its own (REGISTRY_SETUP_VERSION_OVERRIDE) so that the image tag is private to this run.
 */
export async function startOurStack(password: string, progress: Progress): Promise<RunningStack> {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const version = `${pkg.version}-stackbench.${process.pid}.${randomBytes(3).toString('hex')}`;
  const image = `registry-setup/registry:${version}`;
  const env = { REGISTRY_SETUP_VERSION_OVERRIDE: version };
  const bed: DeployBed = await startDeployBed('stackbench');
  const stop = async () => {
    await bed.cli(['destroy', bed.sshd.target('root'), '-i', bed.sshd.clientKeyPath, '--dir', bed.installDir, '--compose-project', bed.project, '--yes', '--json'], { env });
    await bed.cleanup();
    await run('docker', ['image', 'rm', image], { allowFailure: true, timeoutMs: 60_000 });
  };
  try {
    progress(`ours: registry-setup deploy (project ${bed.project})`);
    const r = await bed.cli(bed.deployArgs(['--password-stdin', '--json']), { input: password, env });
    if (r.exitCode !== 0) {
      throw new BenchError(`registry-setup deploy exited with ${r.exitCode ?? r.signal}\n${String(r.stderr).split('\n').slice(-20).join('\n')}`);
    }
    const result = jsonEvents(String(r.stdout)).find((e) => e.type === 'result');
    if (!result) throw new BenchError('registry-setup deploy printed no result event');
    const containers = { nginx: await composeContainer(bed.project, 'nginx'), registry: await composeContainer(bed.project, 'registry') };
    const ca = await readFile(join(bed.installDir, 'tls', 'fullchain.pem'));
    const url = `https://${STACK_DOMAIN}:${bed.httpsPort}`;
    try {
      await waitForStack(url, ca, 60_000);
    } catch (e) {
      throw new BenchError(`${(e as Error).message}\n${await containerLogs([containers.nginx, containers.registry], 30)}`);
    }
    return {
      kind: 'ours',
      url,
      ca,
      authorization: basicAuth(STACK_USER, password),
      containers,
      hostPorts: [bed.httpPort, bed.httpsPort],
      describe: `registry-setup deploy ${version} (nginx ${bed.nginxImage} + registry on ${bed.nodeImage}), --tls self-signed, ${url}`,
      logTail: (lines = 30) => containerLogs([containers.nginx, containers.registry], lines),
      stop,
    };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
