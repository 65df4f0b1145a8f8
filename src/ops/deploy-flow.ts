// `deploy`'s flow: one orchestrator from the command line to the deploy and back. The decisions on
// the host are the deploy plan's (src/provision/deploy-plan.ts), run by src/deploy/deploy.ts; this
// module resolves the settings, connects, asks through the prompts the CLI gives it, and saves the
// config file. It prints nothing of its own besides the console Output's events.
import { existsSync, promises as fs } from 'node:fs';
import { deploy, type DeployResult, type PasswordCarrier } from '../deploy/deploy.js';
import { readHostRecord } from '../deploy/host-record.js';
import { parseCredentials } from '../registry/storage/s3/settings.js';
import {
  checkHostList,
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
import { DEFAULT_SETTINGS, type DeploySettings } from '../settings/settings.js';
import { readRegistryPayload } from '../version.js';
import { cliVersion } from './version.js';
import { withConfigSections } from '../settings/retention.js';
import { mirrorsOfConfigFile, readMirrorCredentialFiles, withoutEmptyMirrors } from '../settings/mirrors.js';
import { revealPassword, type Output } from '../console/output.js';
import { checkStdinClaims, connectHosts, hostLabels, isInteractive, readStdinPassword, readStdinSecret, type HostFlags } from '../session/connect.js';

export interface DeployFlowFlags extends HostFlags {
  /** the settings the command line gave (checked) */
  settings: PartialSettings;
  passwordStdin?: boolean;
  s3Credentials?: string;
  dryRun?: boolean;
}

/** What the flow asks a person on a terminal (the CLI's prompts). */
export interface DeployPrompts {
  /** what flags, the config file and the host did not answer; a typed password or none (generate one) */
  wizard(known: PartialSettings, opts: { askPassword: boolean }): Promise<{ answers: PartialSettings; password?: string }>;
  /** a yes/no question, no by default */
  confirm(message: string): Promise<boolean>;
}

export interface DeployFlowResult {
  settings: DeploySettings[];
  result: DeployResult;
  /** the remote command logs, one per host */
  logs: string[];
  /** where the settings were saved (or would be, in a dry run) */
  configPath: string;
  dryRun: boolean;
}

/**
 * Nothing moves the images when the data directory changes: the registry would start empty beside
 * them. Said before anything changes; goes on with --yes, asks on a terminal, refuses otherwise.
 */
async function confirmDataDirChanges(settings: DeploySettings[], recorded: (PartialSettings | undefined)[], labels: string[], flags: DeployFlowFlags, output: Output, prompts: DeployPrompts): Promise<void> {
  for (const [i, s] of settings.entries()) {
    const before = recorded[i];
    if (!before || s.storage || before.storage) continue;
    const was = before.dataDir ?? defaultDataDir(s.dir);
    if (was === s.dataDir) continue;
    const what = `${labels[i]}: the images are in ${was}; this deploy makes the registry serve ${s.dataDir}, which starts empty (nothing moves them: to keep them, move ${was}/docker into ${s.dataDir} first)`;
    if (flags.yes) output.warn(what);
    else if (!isInteractive(flags)) throw new SettingsError(`${what}; pass --yes to deploy anyway`);
    else if (!(await prompts.confirm(`${what}. Deploy anyway?`))) throw new SettingsError('nothing was changed');
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

/**
 * `deploy`: settings from flags, the config file and each host's record (and the wizard on a
 * terminal), then the deploy itself (src/deploy/deploy.ts) and the config file saved. The CLI
 * passes the settings its flags gave and the prompts; it prints the outcome.
 */
export async function runDeployFlow(targetArgs: string[], flags: DeployFlowFlags, prompts: DeployPrompts, output: Output): Promise<DeployFlowResult> {
  const fromFlags = flags.settings;
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
      const wizard = await prompts.wizard(merged[0]!, { askPassword: password === undefined && !records[0]?.settings.user });
      merged = merged.map((m) => mergeSettings([m, wizard.answers]));
      typed ??= wizard.password;
    }
    const settings = merged.map(completeSettings).map(withoutEmptyMirrors);
    checkHostList(settings);
    await confirmDataDirChanges(settings, records.map((r) => r?.settings), connected.map((c) => c.label), flags, output, prompts);
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
    return { settings, result, logs, configPath, dryRun: Boolean(flags.dryRun) };
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
