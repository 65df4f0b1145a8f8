import { existsSync, promises as fs } from 'node:fs';
import { isPort } from '../settings/rules.js';
import { confirm } from '@inquirer/prompts';
import { Command, Option } from 'commander';
import chalk from 'chalk';
import { deploy, type DeployResult, type HostDeployResult, type PasswordCarrier } from '../deploy/deploy.js';
import { readHostRecord } from '../deploy/host-record.js';
import { withConfigSections } from '../settings/retention.js';
import { publicUrl } from '../deploy/verify.js';
import { parseCredentials } from '../registry/storage/s3/settings.js';
import {
  checkHostList,
  checkPartial,
  completeSettings,
  defaultDataDir,
  hostLayers,
  loadConfigFile,
  mergeSettings,
  planHosts,
  renderConfigFile,
  SettingsError,
  shareSettings,
  type PartialSettings,
} from '../settings/resolve.js';
import { DEFAULT_SETTINGS, type DeploySettings, type TlsMode } from '../settings/settings.js';
import { readRegistryPayload } from '../version.js';
import { cliVersion } from '../ops/version.js';
import { Output, passwordLines, revealPassword } from '../console/output.js';
import { addHostOptions } from './host-options.js';
import { checkStdinClaims, connectHosts, hostLabels, isInteractive, readStdinPassword, readStdinSecret, type HostFlags } from '../session/connect.js';
import { runWizard } from './wizard.js';
import { mirrorsOfConfigFile, readMirrorCredentialFiles, withoutEmptyMirrors } from '../settings/mirrors.js';

interface DeployFlags extends HostFlags {
  domain?: string;
  email?: string;
  user?: string;
  passwordStdin?: boolean;
  tls?: TlsMode;
  cert?: string;
  key?: string;
  httpPort?: string;
  httpsPort?: string;
  dataDir?: string;
  nodeImage?: string;
  nginxImage?: string;
  acmeDirectory?: string;
  staging?: boolean;
  acmeCa?: string;
  dryRun?: boolean;
  /** commander's --no-ui: false when given */
  ui?: boolean;
  composeProject?: string;
  publishAddress?: string;
  storage?: string;
  s3Credentials?: string;
  dockerSource?: string;
  /** --send-images / --no-send-images: undefined when neither is given */
  sendImages?: boolean;
}

function flagSettings(f: DeployFlags): PartialSettings {
  const port = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !isPort(n)) throw new SettingsError(`${name}: "${v}" is not a port number`);
    return n;
  };
  const raw: Record<string, unknown> = {
    domain: f.domain,
    email: f.email,
    user: f.user,
    tls: f.tls,
    cert: f.cert,
    key: f.key,
    httpPort: port(f.httpPort, '--http-port'),
    httpsPort: port(f.httpsPort, '--https-port'),
    dir: f.dir,
    dataDir: f.dataDir,
    nodeImage: f.nodeImage,
    nginxImage: f.nginxImage,
    acmeDirectory: f.acmeDirectory,
    staging: f.staging,
    acmeCa: f.acmeCa,
    // Only an explicit --no-ui is a setting; otherwise the config file or the host decides.
    ui: f.ui === false ? false : undefined,
    storage: f.storage,
    composeProject: f.composeProject,
    publishAddress: f.publishAddress,
    dockerSource: f.dockerSource,
    sendImages: f.sendImages,
  };
  return checkPartial(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)), 'flags');
}

export function deployCommand(): Command {
  const cmd = new Command('deploy')
    .description('set up (or update) a registry on a server over SSH, or on several servers that share an S3 bucket')
    .argument('[targets...]', 'user@host[:port] or a Host alias from ~/.ssh/config; several hosts need --storage s3://…')
    .option('--domain <name>', 'public host name of the registry')
    .option('--email <address>', "e-mail for Let's Encrypt")
    .option('--user <name>', 'first registry user')
    .option('--password-stdin', 'read that user\'s password from stdin instead of generating one')
    .addOption(new Option('--tls <mode>', 'TLS certificate').choices(['letsencrypt', 'self-signed', 'custom']))
    .option('--cert <file>', 'certificate chain (PEM) for --tls custom')
    .option('--key <file>', 'private key (PEM) for --tls custom')
    .option('--http-port <port>', 'public HTTP port (default 80)')
    .option('--https-port <port>', 'public HTTPS port (default 443)')
    .option('--data-dir <path>', 'image data on the host (default <dir>/data)')
    .option('--node-image <image>', 'base image for the registry (needs node >= 20)')
    .option('--nginx-image <image>', 'nginx image')
    .option('--acme-directory <url>', 'ACME directory URL (any RFC 8555 CA)')
    .option('--staging', "use Let's Encrypt's staging CA")
    .option('--acme-ca <file>', "trust this CA for the ACME server's own HTTPS")
    .option('--no-ui', 'turn off the built-in web UI at https://<domain>/')
    .option('--storage <url>', 'keep the images in an S3-compatible bucket: s3://bucket/prefix?endpoint=https://…&region=… (default: --data-dir)')
    .option('--s3-credentials <file>', 'the bucket\'s access_key_id = … / secret_access_key = … lines (- reads them from stdin); needed once')
    .option('--compose-project <name>', 'compose project name (default registry-setup); one per deployment on a machine')
    .option('--publish-address <addr>', 'publish the ports on this address only (default: all addresses)')
    .option('--docker-source <source>', "where Docker comes from on a host without it: docker (Docker's apt repository, the default) or distribution (the release's own docker.io and Compose v2)")
    .option('--send-images', "send --node-image and --nginx-image from this machine's Docker to a host that lacks them (it cannot pull them)")
    .option('--no-send-images', 'let the host pull the base images itself again (after --send-images)')
    .option('--dry-run', 'inspect the host and print the plan; change nothing');
  return addHostOptions(cmd).action(async (targets: string[], flags: DeployFlags) => {
    process.exitCode = await runDeploy(targets, flags);
  });
}

/**
 * Nothing moves the images when the data directory changes: the registry would start empty beside
 * them. Said before anything changes; goes on with --yes, asks on a terminal, refuses otherwise.
 */
async function confirmDataDirChanges(settings: DeploySettings[], recorded: (PartialSettings | undefined)[], labels: string[], flags: DeployFlags, output: Output): Promise<void> {
  for (const [i, s] of settings.entries()) {
    const before = recorded[i];
    if (!before || s.storage || before.storage) continue;
    const was = before.dataDir ?? defaultDataDir(s.dir);
    if (was === s.dataDir) continue;
    const what = `${labels[i]}: the images are in ${was}; this deploy makes the registry serve ${s.dataDir}, which starts empty (nothing moves them: to keep them, move ${was}/docker into ${s.dataDir} first)`;
    if (flags.yes) output.warn(what);
    else if (!isInteractive(flags)) throw new SettingsError(`${what}; pass --yes to deploy anyway`);
    else if (!(await confirm({ message: `${what}. Deploy anyway?`, default: false }, { output: process.stderr }))) throw new SettingsError('nothing was changed');
  }
}

async function readLocalFile(file: string, flag: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    throw new SettingsError(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** --s3-credentials: a file or stdin, checked, and normalized to the two lines the registry reads. */
async function readS3Credentials(source: string): Promise<string> {
  let text: string;
  if (source === '-') text = await readStdinSecret('--s3-credentials -');
  else {
    try {
      text = await fs.readFile(source, 'utf8');
    } catch (err) {
      throw new SettingsError(`cannot read the S3 credentials file ${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const c = parseCredentials(text, source === '-' ? 'the S3 credentials on stdin' : source);
  return `access_key_id = ${c.accessKeyId}\nsecret_access_key = ${c.secretAccessKey}\n`;
}

export async function runDeploy(targetArgs: string[], flags: DeployFlags): Promise<number> {
  const output = new Output({ json: flags.json });
  const fromFlags = flagSettings(flags);
  const file = flags.config ? mirrorsOfConfigFile(await loadConfigFile(flags.config)) : {};
  const entries = planHosts(targetArgs, file);
  if (entries.length === 0) throw new SettingsError('no target: give user@host (or a Host alias from ~/.ssh/config), or --config with a target or hosts');
  checkStdinClaims(flags);
  const password = flags.passwordStdin ? await readStdinPassword() : undefined;
  const s3Credentials = flags.s3Credentials === undefined ? undefined : await readS3Credentials(flags.s3Credentials);
  // --tls custom's files are read before any host is contacted (the mode may also come from the host)
  const localFiles = new Map<string, Buffer>();
  const readOnce = async (path: string, flag: string) => localFiles.get(path) ?? localFiles.set(path, await readLocalFile(path, flag)).get(path)!;
  if ((fromFlags.tls ?? file.tls) === 'custom') {
    for (const [key, flag] of [['cert', '--cert'], ['key', '--key']] as const) {
      const path = fromFlags[key] ?? file[key];
      if (path !== undefined) await readOnce(path, flag);
    }
  }
  const layered = entries.map((e) => hostLayers(fromFlags, e, file));
  const labels = hostLabels(layered.map((l) => ({ target: l.target!, dir: l.dir })));

  const connected = await connectHosts(layered.map((l, i) => ({ target: l.target!, label: labels[i]! })), flags, output, 'deploy');
  const logs = connected.map((c) => c.logFile);
  try {
    const records = await Promise.all(connected.map((c, i) => readHostRecord(c.host, layered[i]!.dir ?? DEFAULT_SETTINGS.dir)));
    let merged = shareSettings(layered.map((l, i) => mergeSettings([l, { ...records[i]?.settings, target: undefined }, { target: l.target }])));
    // sections of registry-setup.yaml (retention:, notify:, access:): with --config, as that file says, absent included
    if (flags.config) merged = merged.map((m) => withConfigSections(m, file));
    let typed = password;
    if (isInteractive(flags)) {
      const wizard = await runWizard(merged[0]!, { askPassword: password === undefined && !records[0]?.settings.user });
      merged = merged.map((m) => mergeSettings([m, wizard.answers]));
      typed ??= wizard.password;
    }
    const settings = merged.map(completeSettings).map(withoutEmptyMirrors);
    checkHostList(settings);
    await confirmDataDirChanges(settings, records.map((r) => r?.settings), connected.map((c) => c.label), flags, output);
    const first = settings[0]!;
    if (s3Credentials !== undefined && !first.storage) throw new SettingsError('--s3-credentials is for a bucket: give --storage s3://… too');
    // mirrors: their credentials files read (and checked) here; prefixes new to the hosts are checked there
    const mirrorCredentials = readMirrorCredentialFiles(first.mirrors);
    const mirroredBefore = new Set(records.flatMap((r) => r?.settings.mirrors ?? []).map((m) => m.prefix));
    const newMirrorPrefixes = (first.mirrors ?? []).map((m) => m.prefix).filter((p) => !mirroredBefore.has(p));
    const customTls = first.tls === 'custom' ? { cert: await readOnce(first.cert!, '--cert'), key: await readOnce(first.key!, '--key') } : undefined;

    const result = await deploy({
      targets: connected.map((c, i) => ({ host: c.host, settings: settings[i]!, label: c.label, output: c.output })),
      version: cliVersion(),
      registryPayload: readRegistryPayload(),
      password: typed,
      customTls,
      s3Credentials,
      mirrorCredentials,
      newMirrorPrefixes,
      dryRun: Boolean(flags.dryRun),
      output,
    });
    const configPath = flags.config ?? 'registry-setup.yaml';
    if (!flags.dryRun) await saveConfig(configPath, settings);
    report(output, settings, result, { dryRun: Boolean(flags.dryRun), logs, configPath });
    return 0;
  } catch (err) {
    // a re-run finds the user and generates nothing: this is the only time it can be shown
    const lost = (err as PasswordCarrier).generatedPassword;
    if (lost) revealPassword(output, lost.user, lost.password, 'written to the host before the failure; a re-run keeps it');
    (err as { hint?: string }).hint =
      `Every remote command is in ${logs.join(', ')}. Fix the cause and run the same command again: each step is safe to repeat.`;
    throw err;
  } finally {
    for (const c of connected) c.host.close();
  }
}

async function saveConfig(file: string, settings: DeploySettings[]): Promise<void> {
  const text = renderConfigFile(settings.length === 1 ? settings[0]! : settings);
  if (existsSync(file) && (await fs.readFile(file, 'utf8')) === text) return;
  await fs.writeFile(`${file}.tmp`, text);
  await fs.rename(`${file}.tmp`, file);
}

function report(output: Output, all: DeploySettings[], result: DeployResult, o: { dryRun: boolean; logs: string[]; configPath: string }): void {
  const settings = all[0]!;
  const registry = publicUrl(settings).replace(/^https:\/\//, '');
  const files = (h: HostDeployResult) => h.files.map((f) => ({ path: f.path, action: f.action, diff: f.diff, note: f.note }));
  if (output.json) {
    const only = result.hosts.length === 1 ? result.hosts[0]! : undefined;
    output.event('result', {
      dryRun: o.dryRun,
      changed: result.changed,
      url: publicUrl(settings),
      login: `docker login ${registry} -u ${settings.user}`,
      ...(only
        ? { files: files(only), steps: [...result.steps, ...only.steps] }
        : {
            steps: result.steps,
            hosts: result.hosts.map((h, i) => ({ host: h.host, target: h.target, dir: h.dir, url: publicUrl(all[i]!), changed: h.changed, files: files(h), steps: h.steps, verified: h.verified })),
          }),
      ...(result.generatedPassword ? { user: settings.user, password: result.generatedPassword } : {}),
      log: o.logs.length === 1 ? o.logs[0] : o.logs,
    });
    return;
  }
  const err = process.stderr;
  if (o.dryRun) {
    for (const h of result.hosts) {
      err.write(`\nPlan for ${h.host} (dry run: nothing was changed):\n`);
      for (const s of [...(h === result.hosts[0] ? result.steps : []), ...h.steps]) {
        err.write(`  ${s.status === 'planned' ? chalk.yellow('will run') : chalk.dim('skip    ')}  ${s.id}${s.detail ? chalk.dim(` (${s.detail})`) : ''}\n`);
      }
      for (const f of h.files) {
        err.write(`  ${f.action.padEnd(9)} ${f.path}${f.note ? chalk.dim(` (${f.note})`) : ''}\n`);
        if (f.diff) err.write(f.diff.replace(/^/gm, '      ') + '\n');
      }
    }
    return;
  }
  const where = result.hosts.length > 1 ? ` (served by ${result.hosts.length} hosts: ${result.hosts.map((h) => h.host).join(', ')})` : '';
  err.write(`\n${chalk.green('✔')} Registry ${result.changed ? 'deployed' : 'already up to date'} at ${publicUrl(settings)}${where}\n`);
  err.write(`  Log in with:  docker login ${registry} -u ${settings.user}\n`);
  if (result.generatedPassword) {
    err.write(passwordLines(settings.user, result.generatedPassword));
  }
  err.write(chalk.dim(`  Settings saved to ${o.configPath}; remote command log${o.logs.length > 1 ? 's' : ''}: ${o.logs.join(', ')}\n`));
}
