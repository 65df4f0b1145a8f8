import bcrypt from 'bcryptjs';
import type { RemoteHost } from '../remote/index.js';
import { readFile } from 'node:fs/promises';
import {
  SYSTEMD_DIR,
  SYSTEMD_PRESENT_ARGV,
  composeArgv,
  dockerInstallSteps,
  enableTimerArgv,
  renewalFiles,
  renewalUnitName,
  renderDeploymentFiles,
  selfSignedTlsStep,
  type ComposeTarget,
  type FileSpec,
  type Step,
} from '../provision/index.js';
import { HOST_LAYOUT, NGINX_UID, registryImageTag, type NginxMode } from '../templates/render.js';
import { acmeCaHostPath, directoryUrlOf, ensureCertificate, installedCertificate } from './letsencrypt.js';
import type { DeploySettings } from '../settings/settings.js';
import { HtpasswdFile, generatePassword } from '../users/credentials.js';
import type { Output, StepStatus } from '../cli/output.js';
import { Executor, type FileChange } from './executor.js';
import { checkDomainResolution, inspectHost } from './host-facts.js';
import { containerFor, imageExists, listContainers, reloadNginx, stackRunning, waitHealthy } from './stack.js';
import { verifyDeployment } from './verify.js';

export interface DeployOptions {
  settings: DeploySettings;
  version: string;
  registryBundle: Buffer;
  /** a password the user gave (stdin or wizard); otherwise one is generated for a new user */
  password?: string;
  /** local files of `--tls custom` */
  customTls?: { cert: Buffer; key: Buffer };
  dryRun: boolean;
  output: Output;
  /** tests: an isolated compose project and ports published on loopback only */
  project?: string;
  publishAddress?: string;
}

export interface DeployResult {
  changed: boolean;
  steps: { id: string; status: StepStatus; detail?: string }[];
  files: FileChange[];
  /** set only when this run generated the first user's password (shown once) */
  generatedPassword?: string;
  verified?: { anonymous: number; authenticated: number; pushed: string };
}

const p = (settings: DeploySettings, rel: string) => `${settings.dir.replace(/\/+$/, '')}/${rel}`;

/** Runs a provisioning step: `check` exit 0 skips it; in dry-run it is only reported. */
async function runStep(exec: Executor, step: Step): Promise<StepStatus> {
  if (step.check && (await exec.run(step.check, { allowFailure: true })).code === 0) return 'unchanged';
  if (exec.dryRun) return 'planned';
  if (step.files?.length) await exec.applyFiles(step.files);
  for (const argv of step.commands) await exec.run(argv);
  return 'done';
}

export async function deploy(host: RemoteHost, opts: DeployOptions): Promise<DeployResult> {
  const { settings, output } = opts;
  const exec = new Executor(host, opts.dryRun);
  const result: DeployResult = { changed: false, steps: [], files: [] };
  const step = async (id: string, name: string, run: () => Promise<{ status: StepStatus; detail?: string }>) => {
    const r = await output.step(id, name, run);
    result.steps.push({ id, status: r.status, detail: r.detail });
    if (r.status === 'done' || r.status === 'planned') result.changed = true;
    return r;
  };

  const report = await (async () => {
    let rep: Awaited<ReturnType<typeof inspectHost>> | undefined;
    await step('preflight', 'Check the host', async () => {
      rep = await inspectHost(exec, settings, opts.project);
      return { status: 'skipped' as const, detail: `${rep.os?.prettyName ?? 'unknown OS'}, ${rep.arch}` };
    });
    return rep!;
  })();
  for (const w of report.warnings) output.warn(w);
  const dnsCheck = await checkDomainResolution(exec, settings.domain, host.target.host);
  const hostAddresses = dnsCheck.hostAddresses;
  if (dnsCheck.warning) output.warn(dnsCheck.warning);

  let compose = report.docker.compose;
  await step('docker', 'Install Docker Engine and Compose', async () => {
    if (compose && report.docker.daemon) return { status: 'unchanged', detail: `Docker ${report.docker.serverVersion}, compose ${compose}` };
    if (!report.os || !report.arch) throw new Error('cannot install Docker: unknown OS or architecture');
    let status: StepStatus = 'unchanged';
    for (const s of dockerInstallSteps(report.os, report.arch)) {
      const st = await runStep(exec, s);
      if (st !== 'unchanged') status = st;
    }
    if (!opts.dryRun) compose = 'v2';
    return { status, detail: 'from the official Docker apt repository' };
  });
  const target: ComposeTarget = { kind: compose ?? 'v2', dir: settings.dir, project: opts.project };

  // Users: keep the host's file, add the first user if missing, change a password only when asked.
  let htpasswdText = '';
  await step('users', `Registry user ${settings.user}`, async () => {
    const existing = await host.readFile(p(settings, HOST_LAYOUT.htpasswd), { sudo: true });
    const file = existing ? HtpasswdFile.parse(existing.toString('utf8')) : HtpasswdFile.empty();
    let status: StepStatus = 'unchanged';
    if (!file.has(settings.user)) {
      const password = opts.password ?? generatePassword();
      if (opts.password === undefined) result.generatedPassword = password;
      file.set(settings.user, password);
      status = opts.dryRun ? 'planned' : 'done';
    } else if (opts.password !== undefined) {
      const current = existing!.toString('utf8').split('\n').find((l) => l.startsWith(`${settings.user}:`))!.slice(settings.user.length + 1);
      if (!(await bcrypt.compare(opts.password, current))) {
        file.set(settings.user, opts.password);
        status = opts.dryRun ? 'planned' : 'done';
      }
    }
    htpasswdText = status === 'unchanged' && existing ? existing.toString('utf8') : file.toString();
    return { status, detail: status === 'unchanged' ? 'exists' : 'password set' };
  });

  // Let's Encrypt: nginx starts HTTP-only until there is a certificate to serve.
  const cert = settings.tls === 'letsencrypt' ? await installedCertificate(host, settings) : { present: true, due: false };
  const render = (nginxMode: NginxMode) =>
    renderDeploymentFiles(settings, {
      version: opts.version,
      registryBundle: opts.registryBundle,
      htpasswd: htpasswdText,
      publishAddress: opts.publishAddress,
      nginxMode,
    });
  const rendered = render(cert.present ? 'https' : 'http-only');
  await step('directories', `Create ${settings.dir} and ${settings.dataDir}`, async () => {
    const n = await exec.ensureDirectories(rendered.directories);
    return { status: n === 0 ? 'unchanged' : opts.dryRun ? 'planned' : 'done', detail: n ? `${n} created or fixed` : undefined };
  });

  let tlsChanged = false;
  await step('tls', `TLS certificate (${settings.tls})`, async () => {
    if (settings.tls === 'self-signed') {
      const status = await runStep(exec, selfSignedTlsStep(settings));
      tlsChanged = status !== 'unchanged';
      return { status, detail: status === 'unchanged' ? 'valid for the domain' : 'new self-signed certificate' };
    }
    if (settings.tls === 'custom') {
      const files: FileSpec[] = [
        { path: p(settings, HOST_LAYOUT.certificate), content: opts.customTls!.cert, mode: 0o644 },
        { path: p(settings, HOST_LAYOUT.privateKey), content: opts.customTls!.key, mode: 0o600, owner: NGINX_UID, group: NGINX_UID, sensitive: true },
      ];
      const changes = await exec.applyFiles(files, { withDiff: opts.dryRun });
      result.files.push(...changes);
      tlsChanged = changes.some((c) => c.action !== 'unchanged');
      return { status: tlsChanged ? (opts.dryRun ? 'planned' : 'done') : 'unchanged' };
    }
    if (settings.acmeCa) {
      const changes = await exec.applyFiles([{ path: acmeCaHostPath(settings.dir), content: await readFile(settings.acmeCa), mode: 0o644 }]);
      result.files.push(...changes);
    }
    return { status: 'unchanged', detail: cert.present ? "Let's Encrypt certificate installed" : 'ordered once nginx answers on port 80' };
  });

  let changedFiles: FileChange[] = [];
  await step('files', 'Write compose.yaml, nginx.conf, htpasswd and the registry image', async () => {
    changedFiles = (await exec.applyFiles(rendered.files, { withDiff: opts.dryRun })).filter((c) => c.action !== 'unchanged');
    result.files.push(...(await Promise.resolve(changedFiles)));
    return {
      status: changedFiles.length === 0 ? 'unchanged' : opts.dryRun ? 'planned' : 'done',
      detail: changedFiles.length ? changedFiles.map((c) => `${c.action} ${c.path.slice(settings.dir.length + 1)}`).join(', ') : undefined,
    };
  });

  const changed = (rel: string) => changedFiles.some((c) => c.path === p(settings, rel));
  const before = opts.dryRun || !compose ? [] : await listContainers(exec, opts.project);
  await step('start', 'Build the registry image and start the containers', async () => {
    const image = registryImageTag(opts.version);
    const buildChanged = [HOST_LAYOUT.dockerfile, HOST_LAYOUT.dockerignore, HOST_LAYOUT.registryBundle].some(changed);
    const needBuild = buildChanged || !compose || !(await imageExists(exec, image));
    const needUp = needBuild || changed(HOST_LAYOUT.compose) || !stackRunning(before);
    if (!needUp) return { status: 'unchanged', detail: 'containers up to date' };
    if (opts.dryRun) return { status: 'planned', detail: needBuild ? 'build and start' : 'start' };
    if (needBuild) await exec.run(composeArgv(target, 'build', 'registry'));
    await exec.run(composeArgv(target, 'up', '-d', '--remove-orphans'));
    return { status: 'done', detail: needBuild ? `built ${image}` : undefined };
  });

  await step('reload', 'Reload nginx', async () => {
    const nginxBefore = containerFor(before, 'nginx');
    const needReload = nginxBefore?.state === 'running' && (tlsChanged || changed(HOST_LAYOUT.nginxConf));
    if (!needReload) return { status: 'unchanged' };
    if (opts.dryRun) return { status: 'planned' };
    await reloadNginx(exec, target);
    return { status: 'done' };
  });

  if (opts.dryRun) {
    if (settings.tls === 'letsencrypt') {
      await step('certificate', "Let's Encrypt certificate", async () =>
        cert.due ? { status: 'planned', detail: cert.present ? 'due for renewal' : 'order a certificate' } : { status: 'unchanged', detail: 'valid, not due' },
      );
    }
    return result;
  }

  await step('healthy', 'Wait for the registry to be healthy', async () => {
    await waitHealthy(exec, target, 120_000);
    return { status: 'skipped', detail: 'healthy' };
  });

  if (settings.tls === 'letsencrypt') {
    await step('certificate', "Let's Encrypt certificate", async () => {
      const obtained = await ensureCertificate(host, settings, { expectedAddresses: hostAddresses, log: (l) => output.event('acme', { message: l }) });
      if (obtained.action === 'not-due') return { status: 'unchanged', detail: `valid until ${obtained.notAfter.slice(0, 10)}` };
      if (!cert.present) {
        const https = render('https').files.filter((f) => f.path === p(settings, HOST_LAYOUT.nginxConf) || f.path === p(settings, HOST_LAYOUT.deployedSettings));
        await exec.applyFiles(https);
      }
      await reloadNginx(exec, target);
      return { status: 'done', detail: `${obtained.action}, serial ${obtained.serial}, valid until ${obtained.notAfter.slice(0, 10)}` };
    });
    await step('renewal', 'Automatic renewal (systemd timer)', async () => {
      const files = renewalFiles(settings, {
        target,
        directoryUrl: directoryUrlOf(settings),
        acmeCaFile: settings.acmeCa ? acmeCaHostPath(settings.dir) : undefined,
      });
      const scriptOnly = files.filter((f) => !f.path.startsWith(SYSTEMD_DIR));
      if ((await exec.run(SYSTEMD_PRESENT_ARGV, { allowFailure: true })).code !== 0) {
        await exec.applyFiles(scriptOnly);
        output.warn(`no systemd on this host: automatic renewal is not installed; run ${settings.dir}/renew.sh from cron twice a day`);
        return { status: 'skipped', detail: 'no systemd' };
      }
      const changes = (await exec.applyFiles(files)).filter((c) => c.action !== 'unchanged');
      const enabled = (await exec.run(['systemctl', 'is-enabled', `${renewalUnitName(opts.project)}.timer`], { allowFailure: true })).code === 0;
      if (changes.length === 0 && enabled) return { status: 'unchanged', detail: 'timer enabled' };
      for (const argv of enableTimerArgv(opts.project)) await exec.run(argv);
      return { status: 'done', detail: 'timer enabled' };
    });
  }

  await step('verify', `Verify https://${settings.domain}${settings.httpsPort === 443 ? '' : `:${settings.httpsPort}`}/v2/ from here`, async () => {
    const password = opts.password ?? result.generatedPassword;
    const ca = settings.tls === 'self-signed' ? ((await host.readFile(p(settings, HOST_LAYOUT.certificate), { sudo: true })) ?? undefined) : undefined;
    result.verified = await verifyDeployment({
      settings,
      password,
      ca,
      connectTo: dnsCheck.resolves ? undefined : host.target.host,
    });
    return { status: 'skipped', detail: `401 without and ${password ? '200 with' : 'untested'} credentials${result.verified.pushed ? ', push and pull ok' : ''}` };
  });
  return result;
}
