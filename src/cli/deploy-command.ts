import { isPort } from '../settings/rules.js';
import { confirm } from '@inquirer/prompts';
import { Command, Option } from 'commander';
import chalk from 'chalk';
import type { DeployResult, HostDeployResult } from '../deploy/deploy.js';
import { publicUrl } from '../deploy/verify.js';
import { checkPartial, SettingsError, type PartialSettings } from '../settings/resolve.js';
import type { DeploySettings, TlsMode } from '../settings/settings.js';
import { runDeployFlow, type DeployPrompts } from '../ops/deploy-flow.js';
import { Output, passwordLines } from '../console/output.js';
import { addHostOptions } from './host-options.js';
import type { HostFlags } from '../session/connect.js';
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

export async function runDeploy(targets: string[], flags: DeployFlags): Promise<number> {
  const output = new Output({ json: flags.json });
  const prompts: DeployPrompts = {
    wizard: runWizard,
    confirm: (message) => confirm({ message, default: false }, { output: process.stderr }),
  };
  const done = await runDeployFlow(targets, { ...flags, settings: flagSettings(flags) }, prompts, output);
  report(output, done.settings, done.result, { dryRun: done.dryRun, logs: done.logs, configPath: done.configPath });
  return 0;
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
