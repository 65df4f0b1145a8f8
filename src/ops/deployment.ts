// The day-2 commands' view of a deployment: connect, read what the last deploy recorded on the host
// (registry-setup.json), and the few facts every command needs (compose flavour, containers, the
// public URL). No local state is needed: everything comes from the host.
import dns from 'node:dns/promises';
import { posix } from 'node:path';
import { Option, type Command } from 'commander';
import { RegistryClient } from '../client/registry-client.js';
import { addHostOptions, connectHost, type HostFlags } from '../cli/host-session.js';
import type { Output } from '../cli/output.js';
import { Executor } from '../deploy/executor.js';
import { readHostRecord, type HostRecord } from '../deploy/host-record.js';
import { listContainers, type ContainerState } from '../deploy/stack.js';
import { publicUrl } from '../deploy/verify.js';
import { dockerDetectCommands, parseDockerDetect, type ComposeTarget } from '../provision/index.js';
import type { RemoteHost } from '../remote/index.js';
import { completeSettings, loadConfigFile, SettingsError } from '../settings/resolve.js';
import { DEFAULT_SETTINGS, type DeploySettings } from '../settings/settings.js';
import { COMPOSE_PROJECT, HOST_LAYOUT } from '../templates/render.js';
import { OpsError } from './errors.js';

/** Flags shared by the day-2 commands: deploy's host options plus the hidden test-only project name. */
export interface DeploymentFlags extends HostFlags {
  /** tests: the isolated compose project the deploy used (hidden, like deploy's --compose-project) */
  composeProject?: string;
}

export function addDeploymentOptions(cmd: Command): Command {
  return addHostOptions(cmd).addOption(new Option('--compose-project <name>').hideHelp());
}

export class NoDeploymentError extends OpsError {
  override name = 'NoDeploymentError';
  constructor(dir: string, host: string) {
    super(`no registry-setup deployment found in ${dir} on ${host}; run registry-setup deploy first`);
  }
}

/** A connection to the host and where the deployment lives there (it may not exist). */
export interface HostSession {
  /** the target as given (or from --config) */
  target: string;
  host: RemoteHost;
  exec: Executor;
  logFile: string;
  /** install directory, without a trailing slash */
  dir: string;
  project: string;
  /** host name for messages */
  hostName: string;
  /** `<dir>/<rel>` */
  path(rel: string): string;
  close(): void;
}

/** A session on a host that has a deployment. */
export interface Deployment extends HostSession {
  record: HostRecord;
  settings: DeploySettings;
  /** how to run compose there (detected once, on first use) */
  composeTarget(): Promise<ComposeTarget>;
  containers(): Promise<ContainerState[]>;
}

/** `<target>` (or the config file's), and the install directory from --dir, the config file or the default. */
export async function resolveTarget(targetArg: string | undefined, flags: DeploymentFlags): Promise<{ target: string; dir: string }> {
  const fromFile = flags.config ? await loadConfigFile(flags.config) : {};
  const target = targetArg ?? fromFile.target;
  if (!target) throw new SettingsError('no target: give user@host (or a Host alias from ~/.ssh/config), or --config with a target');
  const dir = flags.dir ?? fromFile.dir ?? DEFAULT_SETTINGS.dir;
  if (!dir.startsWith('/')) throw new SettingsError(`--dir must be an absolute path on the host, not "${dir}"`);
  return { target, dir: dir.length > 1 ? dir.replace(/\/+$/, '') : dir };
}

export async function openSession(targetArg: string | undefined, flags: DeploymentFlags, output: Output, command: string): Promise<HostSession> {
  const { target, dir } = await resolveTarget(targetArg, flags);
  const project = flags.composeProject ?? COMPOSE_PROJECT;
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(project)) throw new SettingsError(`compose project name "${project}" must be lower-case letters, digits, '-' and '_'`);
  const { host, logFile } = await connectHost(target, flags, output, command);
  return {
    target,
    host,
    exec: new Executor(host, false),
    logFile,
    dir,
    project,
    hostName: host.target.host,
    path: (rel) => posix.join(dir, rel),
    close: () => host.close(),
  };
}

/** The deployment at the session's directory, or NoDeploymentError (one line, says what to do). */
export async function loadDeployment(session: HostSession): Promise<Deployment> {
  const record = await readHostRecord(session.host, session.dir);
  if (!record) throw new NoDeploymentError(session.dir, session.hostName);
  const settings = completeSettings({ ...record.settings, target: session.target, dir: session.dir });
  let compose: Promise<ComposeTarget> | undefined;
  return {
    ...session,
    record,
    settings,
    composeTarget: () => (compose ??= detectCompose(session.exec).then((kind) => ({ kind, dir: session.dir, project: session.project }))),
    containers: () => listContainers(session.exec, session.project),
  };
}

/**
 * Connects, loads the deployment, runs fn, and always closes the connection. Errors thrown by fn
 * get the command log's path as a hint (printed under the one-line error).
 */
export async function withDeployment<T>(
  targetArg: string | undefined,
  flags: DeploymentFlags,
  output: Output,
  command: string,
  fn: (d: Deployment) => Promise<T>,
): Promise<T> {
  const session = await openSession(targetArg, flags, output, command);
  try {
    return await fn(await loadDeployment(session));
  } catch (err) {
    if (!(err instanceof OpsError) && !(err instanceof SettingsError) && !(err as { hint?: string }).hint) {
      (err as { hint?: string }).hint = `Every remote command is in ${session.logFile}.`;
    }
    throw err;
  } finally {
    session.close();
  }
}

/** Which compose the host has: the plugin (v2) or docker-compose >= 1.27 (v1). */
export async function detectCompose(exec: Executor): Promise<ComposeTarget['kind']> {
  const probes = dockerDetectCommands().filter((p) => p.id === 'compose-v2' || p.id === 'compose-v1');
  // both at once: each is a round trip, and compose v1 is slow to start
  const results = await Promise.all(probes.map((p) => exec.host.exec(p.argv, { sudo: p.needsSudo, allowFailure: true, timeoutMs: 60_000 })));
  const facts = parseDockerDetect(Object.fromEntries(probes.map((p, i) => [p.id, results[i]!])));
  if (!facts.compose) throw new OpsError(`no usable Docker Compose on ${exec.host.target.host}${facts.composeNote ? ` (${facts.composeNote})` : ''}; run registry-setup deploy to install it`);
  return facts.compose;
}

/**
 * A client for the public URL as a laptop sees it: the deployment's own certificate is trusted when
 * it is self-signed, and when the domain does not resolve the SSH host's address is used instead.
 */
export async function publicClient(d: Deployment, creds?: { user: string; password: string }): Promise<{ client: RegistryClient; url: string; connectTo?: string }> {
  const ca = d.settings.tls === 'self-signed' ? ((await d.host.readFile(d.path(HOST_LAYOUT.certificate), { sudo: true })) ?? undefined) : undefined;
  let connectTo: string | undefined;
  try {
    await dns.lookup(d.settings.domain);
  } catch {
    connectTo = d.host.target.host;
  }
  const url = publicUrl(d.settings);
  const client = new RegistryClient({ baseUrl: url, ca, connectTo, timeoutMs: 10_000, ...(creds ? { user: creds.user, password: creds.password } : {}) });
  return { client, url, connectTo };
}
