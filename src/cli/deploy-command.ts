import { existsSync, promises as fs } from 'node:fs';
import { Command, Option } from 'commander';
import chalk from 'chalk';
import { deploy, type DeployResult } from '../deploy/deploy.js';
import { readHostRecord } from '../deploy/host-record.js';
import { publicUrl } from '../deploy/verify.js';
import { checkPartial, completeSettings, loadConfigFile, mergeSettings, renderConfigFile, SettingsError, type PartialSettings } from '../settings/resolve.js';
import type { DeploySettings, TlsMode } from '../settings/settings.js';
import { readRegistryBundle } from '../version.js';
import { cliVersion } from '../ops/version.js';
import { Output } from './output.js';
import { addHostOptions, connectHost, isInteractive, readStdinSecret, type HostFlags } from './host-session.js';
import { runWizard } from './wizard.js';

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
}

function flagSettings(target: string | undefined, f: DeployFlags): PartialSettings {
  const port = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new SettingsError(`${name}: "${v}" is not a port number`);
    return n;
  };
  const raw: Record<string, unknown> = {
    target,
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
  };
  return checkPartial(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)), 'flags');
}

export function deployCommand(): Command {
  const cmd = new Command('deploy')
    .description('set up (or update) a registry on a server over SSH')
    .argument('[target]', 'user@host[:port] or a Host alias from ~/.ssh/config')
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
    .option('--dry-run', 'inspect the host and print the plan; change nothing')
    .addOption(new Option('--compose-project <name>').hideHelp())
    .addOption(new Option('--publish-address <addr>').hideHelp());
  return addHostOptions(cmd).action(async (target: string | undefined, flags: DeployFlags) => {
    process.exitCode = await runDeploy(target, flags);
  });
}

async function runDeploy(targetArg: string | undefined, flags: DeployFlags): Promise<number> {
  const output = new Output({ json: flags.json });
  const fromFlags = flagSettings(targetArg, flags);
  const fromFile = flags.config ? await loadConfigFile(flags.config) : {};
  const target = fromFlags.target ?? fromFile.target;
  if (!target) throw new SettingsError('no target: give user@host (or a Host alias from ~/.ssh/config), or --config with a target');
  const password = flags.passwordStdin ? await readStdinSecret('--password-stdin') : undefined;

  const { host, logFile } = await connectHost(target, flags, output, 'deploy');
  try {
    const dir = fromFlags.dir ?? fromFile.dir ?? '/opt/registry-setup';
    const fromHost = (await readHostRecord(host, dir))?.settings ?? {};
    let merged = mergeSettings([fromFlags, fromFile, { ...fromHost, target: undefined }, { target }]);
    let typed = password;
    if (isInteractive(flags)) {
      const wizard = await runWizard(merged, { askPassword: password === undefined && !fromHost.user });
      merged = mergeSettings([merged, wizard.answers]);
      typed ??= wizard.password;
    }
    const settings = completeSettings(merged);
    const customTls = settings.tls === 'custom' ? { cert: await fs.readFile(settings.cert!), key: await fs.readFile(settings.key!) } : undefined;

    const result = await deploy(host, {
      settings,
      version: cliVersion(),
      registryBundle: readRegistryBundle(),
      password: typed,
      customTls,
      dryRun: Boolean(flags.dryRun),
      output,
      project: flags.composeProject,
      publishAddress: flags.publishAddress,
    });
    const configPath = flags.config ?? 'registry-setup.yaml';
    if (!flags.dryRun) await saveConfig(configPath, settings);
    report(output, settings, result, { dryRun: Boolean(flags.dryRun), logFile, configPath });
    return 0;
  } catch (err) {
    (err as { hint?: string }).hint =
      `Every remote command is in ${logFile}. Fix the cause and run the same command again: each step is safe to repeat.`;
    throw err;
  } finally {
    host.close();
  }
}

async function saveConfig(file: string, settings: DeploySettings): Promise<void> {
  const text = renderConfigFile(settings);
  if (existsSync(file) && (await fs.readFile(file, 'utf8')) === text) return;
  await fs.writeFile(`${file}.tmp`, text);
  await fs.rename(`${file}.tmp`, file);
}

function report(output: Output, settings: DeploySettings, result: DeployResult, o: { dryRun: boolean; logFile: string; configPath: string }): void {
  const registry = publicUrl(settings).replace(/^https:\/\//, '');
  if (output.json) {
    output.event('result', {
      dryRun: o.dryRun,
      changed: result.changed,
      url: publicUrl(settings),
      login: `docker login ${registry} -u ${settings.user}`,
      files: result.files.map((f) => ({ path: f.path, action: f.action, diff: f.diff, note: f.note })),
      steps: result.steps,
      ...(result.generatedPassword ? { user: settings.user, password: result.generatedPassword } : {}),
      log: o.logFile,
    });
    return;
  }
  const err = process.stderr;
  if (o.dryRun) {
    err.write(`\nPlan for ${settings.target} (dry run: nothing was changed):\n`);
    for (const s of result.steps) err.write(`  ${s.status === 'planned' ? chalk.yellow('will run') : chalk.dim('skip    ')}  ${s.id}${s.detail ? chalk.dim(` (${s.detail})`) : ''}\n`);
    for (const f of result.files) {
      err.write(`  ${f.action.padEnd(9)} ${f.path}${f.note ? chalk.dim(` (${f.note})`) : ''}\n`);
      if (f.diff) err.write(f.diff.replace(/^/gm, '      ') + '\n');
    }
    return;
  }
  err.write(`\n${chalk.green('✔')} Registry ${result.changed ? 'deployed' : 'already up to date'} at ${publicUrl(settings)}\n`);
  err.write(`  Log in with:  docker login ${registry} -u ${settings.user}\n`);
  if (result.generatedPassword) {
    err.write(`  Password for ${settings.user} (shown only this once, store it now):\n\n    ${result.generatedPassword}\n\n`);
  }
  err.write(chalk.dim(`  Settings saved to ${o.configPath}; remote command log: ${o.logFile}\n`));
}
