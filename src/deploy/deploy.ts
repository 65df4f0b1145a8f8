// `deploy`: one or several hosts get identical stacks. Every phase runs on all hosts side by side
// and the next phase starts when all are through, so what several hosts must share (the users, the
// upload secret, the S3 credentials, the certificate) is decided once, between two phases.
import { readFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import {
  SYSTEMD_PRESENT_ARGV,
  renewalFiles,
  renewalUnitName,
  renderDeploymentFiles,
  selfSignedTlsStep,
  tlsFileSpecs,
  nginxReloadPlan,
  startNeedsImageCheck,
  startPlan,
  isPayloadFile,
  prunePayloadArgv,
  type FileSpec,
} from '../provision/index.js';
import { HOST_LAYOUT } from '../host/contract.js';
import { acmePeersOf } from '../provision/acme-peers.js';
import { registryImageTag, storageForContainer, type NginxMode } from '../templates/render.js';
import { acmeCaHostPath, directoryUrlOf, installedCertificate, renewAndInstall } from './letsencrypt.js';
import { SettingsError } from '../settings/resolve.js';
import { HtpasswdFile, generatePassword } from '../users/credentials.js';
import { decideSecrets, decideUsers, generateUploadSecret, storedHash } from '../provision/shared-secrets.js';
import { noRenewalPlan, renewalTimerPlan, renewalWithoutSystemd, renewScriptPath } from '../provision/renewal-plan.js';
import { verifyChoice, verifyDetail } from '../provision/verify-plan.js';
import { eachHost, type StepStatus } from '../console/output.js';
import { HostRun, type DeployOptions, type DeployResult, type PasswordCarrier } from './deploy-run.js';
import { checkDomainResolution, inspectHost } from './host-facts.js';
import { ensureDocker } from './docker-install.js';
import { openFirewall } from './firewall.js';
import { containerFor, imageExists, listContainers, reloadNginx, waitHealthy } from './stack.js';
import { verifyDeployment } from './verify.js';
import { mirrorPrefixClashes } from './mirror-clash.js';
import { pruneMirrorCredentialsArgv } from '../provision/mirrors.js';
import { baseImages, localImageSizes, sendBaseImages } from './send-images.js';
import { retentionStep } from './retention.js';
import { readNotifySecrets } from '../settings/notify.js';
import { DEPLOY_CHECK_REPOSITORY, deployCheckDenied, policiesToRemove, policyRemovedLine, policyUsersWithoutLogin, removeAccessPolicyArgv, sharedTokensFile } from '../provision/access-control.js';

// decided in src/provision/shared-secrets.ts; upgrade shares them from here
export { generateUploadSecret, usableUploadSecret } from '../provision/shared-secrets.js';

export type { DeployOptions, DeployResult, DeployTarget, HostDeployResult, PasswordCarrier } from './deploy-run.js';

export async function deploy(opts: DeployOptions): Promise<DeployResult> {
  let written: PasswordCarrier['generatedPassword'];
  try {
    return await deploySteps(opts, (p) => (written = p));
  } catch (err) {
    if (written && err && typeof err === 'object') (err as PasswordCarrier).generatedPassword = written;
    throw err;
  }
}

async function deploySteps(opts: DeployOptions, passwordWritten: (p: { user: string; password: string }) => void): Promise<DeployResult> {
  const { output, dryRun } = opts;
  const runs = opts.targets.map((t) => new HostRun(t, dryRun));
  const first = runs[0]!;
  const settings = first.settings;
  const several = runs.length > 1;
  // Let's Encrypt on several hosts: each nginx asks the others for challenge tokens it lacks.
  const peers = several && settings.tls === 'letsencrypt' ? acmePeersOf(runs.map((r) => ({ peerAddress: r.settings.peerAddress, sshHost: r.host.target.host, httpPort: r.settings.httpPort }))) : [];
  const result: DeployResult = { changed: false, steps: [], hosts: runs.map((r) => r.result) };
  const shared = async (id: string, name: string, run: () => Promise<{ status: StepStatus; detail?: string }>) => {
    const r = await output.step(id, name, run);
    result.steps.push({ id, status: r.status, detail: r.detail });
    if (r.status === 'done' || r.status === 'planned') result.changed = true;
  };
  const each = (fn: (r: HostRun, i: number) => Promise<void>) => eachHost(runs, (r) => r.label, fn);
  const done = (changed: boolean): StepStatus => (!changed ? 'unchanged' : dryRun ? 'planned' : 'done');

  // --send-images: the images must be in this machine's Docker before anything on a host changes.
  const imagesToSend = settings.sendImages ? await localImageSizes(baseImages(settings)) : undefined;

  // 1. Look at each host and install Docker where it is missing.
  await each(async (r) => {
    await r.step('preflight', 'Check the host', async () => {
      r.facts = await inspectHost(r.exec, r.settings, r.settings.composeProject);
      return { status: 'skipped', detail: `${r.facts.os?.prettyName ?? 'unknown OS'}, ${r.facts.arch}` };
    });
    for (const w of r.facts.warnings) r.output.warn(w);
    r.dns = await checkDomainResolution(r.exec, r.settings.domain, r.host.target.host);
    // Behind a load balancer the name points at the balancer, not at any host: only "no DNS at all" is news then.
    if (r.dns.warning && (!several || !r.dns.resolves)) r.output.warn(r.dns.warning);
    r.compose = r.facts.docker.compose;
    await r.step('docker', 'Install Docker Engine and Compose', async () => {
      const installed = await ensureDocker(r.exec, r.facts, r.settings.dockerSource, (w) => r.output.warn(w));
      if (installed.compose) r.compose = installed.compose;
      return { status: installed.status, detail: installed.detail };
    });
    // before anything changes: a new mirror prefix hides the pushed repositories under it
    if (opts.newMirrorPrefixes?.length) for (const w of await mirrorPrefixClashes(r.exec, r.settings, opts.newMirrorPrefixes)) r.output.warn(w);
    const ufw = r.facts.ufw;
    if (ufw) await r.step('firewall', 'Open the ports in the firewall (ufw)', async () => openFirewall(r.exec, ufw, r.settings));
  });

  // 1b. Base images the hosts cannot pull themselves, sent from here where they lack them.
  if (imagesToSend) await each((r) => r.step('images', 'Send the base images from here', (progress) => sendBaseImages(r.exec, imagesToSend, progress)));

  // 2. What every host shares (src/provision/shared-secrets.ts decides): the users, the upload
  // secret (any host can continue an upload) and the S3 credentials.
  const readAll = (rel: string) => Promise.all(runs.map((r) => r.host.readFile(r.path(rel), { sudo: true })));
  let htpasswdText = '';
  await shared('users', `Registry user ${settings.user}`, async () => {
    const copies = await readAll(HOST_LAYOUT.htpasswd);
    const hash = opts.password !== undefined ? storedHash(copies, settings.user) : undefined;
    const passwordMatches = hash !== undefined ? await bcrypt.compare(opts.password!, hash) : undefined;
    const users = decideUsers({ user: settings.user, copies, password: opts.password, passwordMatches, generatePassword });
    if (users.generatedPassword !== undefined) result.generatedPassword = users.generatedPassword;
    htpasswdText = users.htpasswd;
    return { status: done(users.changed), detail: users.detail };
  });

  let uploadSecret = '';
  let s3Credentials: string | undefined;
  await shared('secrets', settings.storage ? 'Upload secret and S3 credentials' : 'Upload secret', async () => {
    const [secretCopies, credentialCopies] = await Promise.all([readAll(HOST_LAYOUT.uploadSecret), settings.storage ? readAll(HOST_LAYOUT.s3Credentials) : Promise.resolve([])]);
    const secrets = decideSecrets({ secretCopies, credentialCopies, storage: Boolean(settings.storage), givenCredentials: opts.s3Credentials, several, generateSecret: generateUploadSecret });
    ({ uploadSecret, s3Credentials } = secrets);
    return { status: done(secrets.changed), detail: secrets.detail };
  });

  const caFile = settings.storage ? storageForContainer(settings.storage).caFile : undefined;
  let s3Ca: Buffer | undefined;
  if (caFile) {
    try {
      s3Ca = await readFile(caFile);
    } catch (err) {
      throw new SettingsError(`cannot read the storage CA file ${caFile} (ca= in --storage): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  // notify: endpoints' HMAC secrets, read here from their local files (uploaded 0600 with the files)
  const notifySecrets = settings.notify?.length ? await readNotifySecrets(settings.notify) : undefined;

  // Access control: the CI tokens file is shared like htpasswd (the first host's copy goes to all)
  // and written on every deployment, policy or not; a user the policy names who cannot sign in is
  // most likely a typo. Settings without access: remove a policy the hosts still have.
  let ciTokens: string | undefined;
  let dropPolicy: HostRun[] = [];
  if (settings.access !== undefined) {
    const denied = deployCheckDenied(settings.access, settings.user);
    if (denied.length) {
      throw new SettingsError(`the access policy does not let ${settings.user} ${denied.join(', ')} ${DEPLOY_CHECK_REPOSITORY}, where deploy checks the registry with a tiny image: give ${settings.user} the adminPolicy (or those actions on that repository)`);
    }
  }
  await shared('tokens', settings.access !== undefined ? 'Access policy and CI tokens' : 'CI tokens', async () => {
    const [copies, policies] = await Promise.all([readAll(HOST_LAYOUT.ciTokens), settings.access === undefined ? readAll(HOST_LAYOUT.accessPolicy) : Promise.resolve([])]);
    const tokens = sharedTokensFile(copies);
    ciTokens = tokens.content;
    if (settings.access !== undefined) {
      const missing = policyUsersWithoutLogin(settings.access, HtpasswdFile.parse(htpasswdText).names, ciTokens);
      if (missing.length) output.warn(`the access policy names ${missing.join(', ')}, who ${missing.length === 1 ? 'is' : 'are'} neither a registry user nor a CI token: add them with registry-setup users add (or check the spelling)`);
    }
    dropPolicy = policiesToRemove(settings.access, runs, policies);
    if (dropPolicy.length) output.warn(policyRemovedLine(dropPolicy.map((r) => r.label), dryRun));
    return { status: done(tokens.changed), detail: tokens.changed ? (several ? 'tokens file copied to every host' : 'empty tokens file') : undefined };
  });

  // 3. Directories, the certificate, the files. Let's Encrypt: nginx starts HTTP-only until there is a certificate.
  const render = (r: HostRun, nginxMode: NginxMode) =>
    renderDeploymentFiles(r.settings, { version: opts.version, registryPayload: opts.registryPayload, htpasswd: htpasswdText, uploadSecret, s3Credentials, s3Ca, nginxMode, mirrorCredentials: opts.mirrorCredentials, notifySecrets, ciTokens, acmePeers: peers[runs.indexOf(r)] });
  await each(async (r) => {
    if (settings.tls === 'letsencrypt') r.cert = await installedCertificate(r.host, r.settings);
    r.rendered = render(r, r.cert.present ? 'https' : 'http-only');
    await r.step('directories', `Create ${r.settings.dir}${r.settings.storage ? '' : ` and ${r.settings.dataDir}`}`, async () => {
      const n = await r.exec.ensureDirectories(r.rendered.directories);
      return { status: done(n > 0), detail: n ? `${n} created or fixed` : undefined };
    });
  });

  const applyTls = async (r: HostRun, files: FileSpec[]) => {
    const changes = await r.exec.applyFiles(files, { withDiff: dryRun });
    r.result.files.push(...changes);
    r.tlsChanged = changes.some((c) => c.action !== 'unchanged');
    return { status: done(r.tlsChanged) };
  };
  const tlsStep = (r: HostRun, run: () => Promise<{ status: StepStatus; detail?: string }>) => r.step('tls', `TLS certificate (${settings.tls})`, run);
  if (settings.tls === 'self-signed') {
    // Made on the first host; the others get a copy (one certificate, whichever host a client reaches).
    await tlsStep(first, async () => {
      const status = await first.exec.runStep(selfSignedTlsStep(first.settings));
      first.tlsChanged = status !== 'unchanged';
      return { status, detail: status === 'unchanged' ? 'valid for the domain' : 'new self-signed certificate' };
    });
    if (several) {
      const [cert, key] = await Promise.all([HOST_LAYOUT.certificate, HOST_LAYOUT.privateKey].map((rel) => first.host.readFile(first.path(rel), { sudo: true })));
      await each(async (r) => {
        if (r === first) return;
        await tlsStep(r, async () => (cert && key ? { ...(await applyTls(r, tlsFileSpecs(r.settings.dir, cert, key))), detail: `the certificate of ${first.label}` } : { status: 'planned', detail: `a copy of ${first.label}'s` }));
      });
    }
  } else {
    await each((r) =>
      tlsStep(r, async () => {
        if (settings.tls === 'custom') return applyTls(r, tlsFileSpecs(r.settings.dir, opts.customTls!.cert, opts.customTls!.key));
        if (settings.acmeCa) r.result.files.push(...(await r.exec.applyFiles([{ path: acmeCaHostPath(r.settings.dir), content: await readFile(settings.acmeCa), mode: 0o644 }])));
        return { status: 'unchanged', detail: r.cert.present ? "Let's Encrypt certificate installed" : 'ordered once nginx answers on port 80' };
      }),
    );
  }

  await each(async (r) => {
    await r.step('files', 'Write compose.yaml, nginx.conf, htpasswd and the registry image', async () => {
      if (result.generatedPassword && !dryRun) passwordWritten({ user: settings.user, password: result.generatedPassword });
      r.changedFiles = (await r.exec.applyFiles(r.rendered.files, { withDiff: dryRun })).filter((c) => c.action !== 'unchanged');
      if (!dryRun && r.changedFiles.some((c) => isPayloadFile(r.settings.dir, c.path))) await r.exec.run(prunePayloadArgv(r.settings.dir, opts.registryPayload));
      // a changed mirror list changes compose.yaml: the credentials of mirrors that are gone go too
      if (!dryRun && r.changedFiles.some((c) => c.path === r.path(HOST_LAYOUT.compose))) await r.exec.run(pruneMirrorCredentialsArgv(r.settings));
      r.result.files.push(...r.changedFiles);
      return { status: done(r.changedFiles.length > 0), detail: r.changedFiles.length ? r.changedFiles.map((c) => `${c.action} ${c.path.slice(r.settings.dir.length + 1)}`).join(', ') : undefined };
    });

    // 4. Build and start; a registry whose start-up files changed (secret, credentials) is recreated.
    r.before = dryRun || !r.compose ? [] : await listContainers(r.exec, r.settings.composeProject);
    await r.step('start', 'Build the registry image and start the containers', async () => {
      const observed = { target: r.target, version: opts.version, composeInstalled: r.compose !== null, changedFiles: r.changedFiles.map((c) => c.path) };
      const imagePresent = startNeedsImageCheck(observed) ? await imageExists(r.exec, registryImageTag(opts.version)) : undefined;
      const plan = startPlan({ ...observed, containers: r.before, imagePresent });
      if (plan.commands.length === 0) return { status: 'unchanged', detail: 'containers up to date' };
      if (dryRun) return { status: 'planned', detail: plan.dryRunDetail };
      for (const argv of plan.commands) await r.exec.run(argv);
      r.registryRecreated = plan.recreate;
      return { status: 'done', detail: plan.detail };
    });

    await r.step('reload', 'Reload nginx', async () => {
      const reload = nginxReloadPlan({
        target: r.target,
        nginxRunning: containerFor(r.before, 'nginx')?.state === 'running',
        changedFiles: r.changedFiles.map((c) => c.path),
        tlsChanged: r.tlsChanged,
        registryRecreated: r.registryRecreated,
      });
      if (reload.length === 0) return { status: 'unchanged' };
      if (dryRun) return { status: 'planned' };
      for (const argv of reload) await r.exec.run(argv);
      return { status: 'done' };
    });
  });

  // A dropped access: section: the registry was recreated above without the variable that reads
  // the policy, so deleting the file now never leaves a running registry without its policy file.
  await each(async (r) => {
    if (!dropPolicy.includes(r)) return;
    await r.step('access', 'Remove the access policy (no access: in the settings)', async () => {
      if (dryRun) return { status: 'planned', detail: `remove ${HOST_LAYOUT.accessPolicy}` };
      await r.exec.run(removeAccessPolicyArgv(r.settings.dir));
      return { status: 'done', detail: `removed ${HOST_LAYOUT.accessPolicy}` };
    });
  });

  // Retention (retention: in registry-setup.yaml): a daily timer on the first host (the hosts of a
  // bucket are one registry); --dry-run shows it.
  await each((r) =>
    r.step('retention', 'Retention rules (daily systemd timer)', async () => {
      const step = await retentionStep(r, { dryRun, runsHere: r === first });
      r.result.files.push(...step.files.filter((c) => c.action !== 'unchanged'));
      return { status: step.status, detail: step.detail };
    }),
  );

  if (dryRun) {
    if (settings.tls === 'letsencrypt') {
      await shared('certificate', "Let's Encrypt certificate", async () => {
        const present = runs.every((r) => r.cert.present);
        return runs.some((r) => r.cert.due) ? { status: 'planned', detail: present ? 'due for renewal' : 'order a certificate' } : { status: 'unchanged', detail: 'valid, not due' };
      });
    }
    return finish(result);
  }

  // 5. Healthy everywhere: a bucket that is missing or refuses the credentials shows up here (the
  // registry checks both at start and says why in its last log line).
  await each((r) =>
    r.step('healthy', 'Wait for the registry to be healthy', async () => {
      await waitHealthy(r.exec, r.target, 120_000);
      return { status: 'skipped', detail: 'healthy' };
    }),
  );

  // 6. Let's Encrypt, once for all: every token goes to every host, the certificate to all of them.
  if (settings.tls === 'letsencrypt') {
    await shared('certificate', "Let's Encrypt certificate", async () => {
      const places = runs.map((r) => ({ host: r.host, dir: r.settings.dir, label: r.label, reloadNginx: () => reloadNginx(r.exec, r.target) }));
      const { obtained, fresh, copies } = await renewAndInstall(places, settings, {
        // with several hosts the name may point at a load balancer: the HTTP check is what counts
        expectedAddresses: several ? undefined : first.dns.hostAddresses,
        log: (l) => output.event('acme', { message: l }),
        // a host that served HTTP only until now switches to https
        beforeReload: async (i) => {
          const r = runs[i]!;
          if (r.cert.present) return;
          const https = render(r, 'https').files.filter((f) => f.path === r.path(HOST_LAYOUT.nginxConf) || f.path === r.path(HOST_LAYOUT.deployedSettings));
          await r.exec.applyFiles(https);
        },
      });
      const until = `valid until ${obtained.notAfter.slice(0, 10)}`;
      if (fresh) return { status: 'done', detail: `${obtained.action}, serial ${obtained.serial}, ${until}` };
      return copies ? { status: 'done', detail: `${until}, installed on ${copies} more host${copies === 1 ? '' : 's'}` } : { status: 'unchanged', detail: until };
    });
    // Every host renews its own certificate, each in its turn (src/acme/schedule.ts); a challenge
    // the CA sends to another host is forwarded by that host's nginx (acme-peers.ts).
    await each((r) =>
      r.step('renewal', 'Automatic renewal (systemd timer)', async () => {
        const files = renewalFiles(r.settings, {
          target: r.target,
          directoryUrl: directoryUrlOf(settings),
          acmeCaFile: settings.acmeCa ? acmeCaHostPath(r.settings.dir) : undefined,
          slot: { index: runs.indexOf(r), count: runs.length },
        });
        if ((await r.exec.run(SYSTEMD_PRESENT_ARGV, { allowFailure: true })).code !== 0) {
          const scriptOnly = renewalWithoutSystemd(files, r.settings.dir);
          await r.exec.applyFiles(scriptOnly.files);
          r.output.warn(scriptOnly.warning);
          return { status: scriptOnly.status, detail: scriptOnly.detail };
        }
        const filesChanged = (await r.exec.applyFiles(files)).some((c) => c.action !== 'unchanged');
        const unit = `${renewalUnitName(r.settings.composeProject)}.timer`;
        const timerEnabled = (await r.exec.run(['systemctl', 'is-enabled', unit], { allowFailure: true })).code === 0;
        const plan = renewalTimerPlan({ filesChanged, timerEnabled, project: r.settings.composeProject });
        for (const argv of plan.commands) await r.exec.run(argv);
        return { status: plan.status, detail: plan.detail };
      }),
    );
  } else {
    // a deployment that used Let's Encrypt before: its timer would replace this certificate
    await each((r) =>
      r.step('renewal', 'No automatic renewal (the certificate is not from Let\'s Encrypt)', async () => {
        const installed = (await r.exec.run(['test', '-e', renewScriptPath(r.settings.dir)], { allowFailure: true })).code === 0;
        const plan = noRenewalPlan({ installed, dir: r.settings.dir, project: r.settings.composeProject });
        for (const argv of plan.commands) await r.exec.run(argv, { allowFailure: true });
        return { status: plan.status, detail: plan.detail };
      }),
    );
  }

  // 7. Prove each host from here, one after the other (they share the bucket, and the check deletes
  // what it pushed).
  for (const r of runs) {
    await r.step('verify', `Verify https://${r.settings.domain}${r.settings.httpsPort === 443 ? '' : `:${r.settings.httpsPort}`}/v2/ from here`, async () => {
      const password = opts.password ?? result.generatedPassword;
      const choice = verifyChoice({ tls: settings.tls, verifyCa: opts.verifyCa, several, resolves: r.dns.resolves, sshHost: r.host.target.host });
      const ca = choice.ca.from === 'given' ? choice.ca.ca : choice.ca.from === 'host-certificate' ? ((await r.host.readFile(r.path(HOST_LAYOUT.certificate), { sudo: true })) ?? undefined) : undefined;
      r.result.verified = await verifyDeployment({ settings: r.settings, password, ca, connectTo: choice.connectTo });
      return { status: 'skipped', detail: verifyDetail(Boolean(password), r.result.verified.pushed) };
    });
  }
  return finish(result);
}

function finish(result: DeployResult): DeployResult {
  result.changed ||= result.hosts.some((h) => h.changed);
  return result;
}
