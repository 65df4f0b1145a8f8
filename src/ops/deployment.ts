// The day-2 commands' view of a deployment: connect, read what the last deploy recorded on the host
// (registry-setup.json), and the few facts every command needs (compose flavour, containers, the
// public URL). No local state is needed: everything comes from the host.
import dns from 'node:dns/promises';
import { posix } from 'node:path';
import { RegistryClient } from '../client/registry-client.js';
import { connectHosts, hostLabels, type HostFlags } from '../session/connect.js';
import { eachHost, type Output } from '../console/output.js';
import { Executor } from '../deploy/executor.js';
import { readHostRecord, type HostRecord } from '../deploy/host-record.js';
import { listContainers, type ContainerState } from '../deploy/stack.js';
import { publicUrl } from '../deploy/verify.js';
import { dockerDetectCommands, parseDockerDetect, type ComposeTarget } from '../provision/index.js';
import type { RemoteHost } from '../remote/index.js';
import { completeSettings, loadConfigFile, planHosts, SettingsError } from '../settings/resolve.js';
import { DEFAULT_SETTINGS, type DeploySettings } from '../settings/settings.js';
import { COMPOSE_PROJECT, HOST_LAYOUT } from '../host/contract.js';
import { OpsError } from './errors.js';
import { findDeployment } from './find-deployment.js';

/** Flags shared by the day-2 commands: deploy's host options plus the hidden test-only project name. */
export interface DeploymentFlags extends HostFlags {
  /** tests: the isolated compose project the deploy used (hidden, like deploy's --compose-project) */
  composeProject?: string;
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
  /** how output names this host among several (its target, or target:dir) */
  label: string;
  /** the command's output, or this host's part of it when there are several */
  output: Output;
  /** what the last deploy recorded there (registry-setup.json), null when there is none */
  record: HostRecord | null;
  /** one of several hosts behind the same name: checks of the public URL go to this host itself */
  several: boolean;
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

export interface TargetSpec {
  target: string;
  dir: string;
  /** from --compose-project or the config file; otherwise what the host recorded */
  composeProject?: string;
  label: string;
  /** the directory came from --dir or the config file (otherwise it is the default, and a deployment elsewhere may be found) */
  dirGiven: boolean;
}

/**
 * The hosts to work on: the targets given, else the config file's hosts (or target). The install
 * directory comes from --dir, the host's entry in the config file, the file's dir, or the default.
 */
export async function resolveTargets(targetArgs: readonly string[], flags: DeploymentFlags): Promise<TargetSpec[]> {
  const file = flags.config ? await loadConfigFile(flags.config) : {};
  const entries = planHosts(targetArgs, file);
  if (entries.length === 0) throw new SettingsError('no target: give user@host (or a Host alias from ~/.ssh/config), or --config with a target or hosts');
  const list = entries.map((e) => {
    const given = flags.dir ?? e.dir ?? file.dir;
    const dir = given ?? DEFAULT_SETTINGS.dir;
    if (!dir.startsWith('/')) throw new SettingsError(`--dir must be an absolute path on the host, not "${dir}"`);
    return {
      target: e.target,
      dir: dir.length > 1 ? dir.replace(/\/+$/, '') : dir,
      composeProject: flags.composeProject ?? e.composeProject ?? file.composeProject,
      dirGiven: given !== undefined,
    };
  });
  const labels = hostLabels(list);
  return list.map((h, i) => ({ ...h, label: labels[i]! }));
}

/** Connects to every host and reads what each recorded; closes them all again on a failure. */
export async function openSessions(targetArgs: readonly string[], flags: DeploymentFlags, output: Output, command: string): Promise<HostSession[]> {
  const specs = await resolveTargets(targetArgs, flags);
  const connected = await connectHosts(specs, flags, output, command);
  try {
    return await eachHost(connected, (c) => c.label, async (c, i) => {
      const spec = specs[i]!;
      const exec = new Executor(c.host, false);
      let dir = spec.dir;
      let record = await readHostRecord(c.host, dir);
      const found = record || spec.dirGiven ? undefined : await findDeployment(exec, dir, spec.composeProject);
      if (found) {
        dir = found;
        record = await readHostRecord(c.host, dir);
        c.output.info(`No deployment in ${spec.dir}; using the one in ${dir} (found on the host; --dir ${dir} skips the search)`);
      }
      const project = spec.composeProject ?? record?.settings.composeProject ?? COMPOSE_PROJECT;
      if (!/^[a-z0-9][a-z0-9_-]*$/.test(project)) throw new SettingsError(`compose project name "${project}" must be lower-case letters, digits, '-' and '_'`);
      return {
        target: spec.target,
        host: c.host,
        exec,
        logFile: c.logFile,
        dir,
        project,
        hostName: c.host.target.host,
        label: c.label,
        output: c.output,
        record,
        several: connected.length > 1,
        path: (rel: string) => posix.join(dir, rel),
        close: () => c.host.close(),
      };
    });
  } catch (err) {
    for (const c of connected) c.host.close();
    throw err;
  }
}

/** The deployment at the session's directory, or NoDeploymentError (one line, says what to do). */
export function loadDeployment(session: HostSession): Deployment {
  const record = session.record;
  if (!record) throw new NoDeploymentError(session.dir, session.hostName);
  const recorded = record.settings.composeProject;
  const composeProject = session.project === (recorded ?? COMPOSE_PROJECT) ? recorded : session.project;
  const settings = completeSettings({ ...record.settings, target: session.target, dir: session.dir, composeProject });
  let compose: Promise<ComposeTarget> | undefined;
  return {
    ...session,
    record,
    settings,
    composeTarget: () => (compose ??= detectCompose(session.exec).then((kind) => ({ kind, dir: session.dir, project: session.project }))),
    containers: () => listContainers(session.exec, session.project),
  };
}

/** Gives an unexpected failure the command logs as a hint (printed under the one-line error). */
export function withLogHint(err: unknown, sessions: readonly HostSession[], text = (logs: string) => `Every remote command is in ${logs}.`): unknown {
  if (!(err instanceof OpsError) && !(err instanceof SettingsError) && !(err as { hint?: string }).hint) {
    (err as { hint?: string }).hint = text(sessions.map((s) => s.logFile).join(', '));
  }
  return err;
}

/**
 * Connects to every host, loads each deployment, runs fn with all of them, and always closes the
 * connections. Errors thrown by fn get the command logs' paths as a hint.
 */
export async function withDeployments<T>(
  targetArgs: readonly string[],
  flags: DeploymentFlags,
  output: Output,
  command: string,
  fn: (ds: Deployment[]) => Promise<T>,
): Promise<T> {
  const sessions = await openSessions(targetArgs, flags, output, command);
  try {
    return await fn(await eachHost(sessions, (s) => s.label, async (s) => loadDeployment(s)));
  } catch (err) {
    throw withLogHint(err, sessions);
  } finally {
    for (const s of sessions) s.close();
  }
}

/** fn on every deployment side by side (see eachHost). */
export function eachDeployment<R>(ds: readonly Deployment[], fn: (d: Deployment, index: number) => Promise<R>): Promise<R[]> {
  return eachHost(ds, (d) => d.label, fn);
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
 * One of several hosts is always reached at its own address (as deploy verifies each): the name
 * leads to whichever host the balancer picks, which would answer for this one.
 */
export async function publicClient(d: Deployment, creds?: { user: string; password: string }): Promise<{ client: RegistryClient; url: string; connectTo?: string }> {
  const ca = d.settings.tls === 'self-signed' ? ((await d.host.readFile(d.path(HOST_LAYOUT.certificate), { sudo: true })) ?? undefined) : undefined;
  let connectTo: string | undefined;
  if (d.several) connectTo = d.host.target.host;
  else {
    try {
      await dns.lookup(d.settings.domain);
    } catch {
      connectTo = d.host.target.host;
    }
  }
  const url = publicUrl(d.settings);
  const client = new RegistryClient({ baseUrl: url, ca, connectTo, timeoutMs: 10_000, ...(creds ? { user: creds.user, password: creds.password } : {}) });
  return { client, url, connectTo };
}
