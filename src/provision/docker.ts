// Docker on the host: detection, installation by Docker's official apt repository, and compose argv.
import { isComposeProject } from '../settings/rules.js';
import { posix } from 'node:path';
import { COMPOSE_PROJECT, CONTAINER_PATHS, HOST_LAYOUT, IMAGE_COMMANDS } from '../host/contract.js';
import type { Arch, Probe, ProbeId, ProbeResult, SupportedOs } from './preflight.js';
import type { Argv, Step } from './step.js';
export type { DockerSource } from '../settings/settings.js';

// ---------------------------------------------------------------------------------------------
// Detection

/**
 * 'v2': the `docker compose` plugin. 'v1': the standalone `docker-compose` binary (1.27+; a
 * standalone 2.x binary is also run this way).
 */
export type ComposeKind = 'v1' | 'v2';

export interface DockerFacts {
  /** the docker CLI is installed */
  docker: boolean;
  dockerVersion?: string;
  /** the engine answers (`docker info`) */
  daemon: boolean;
  serverVersion?: string;
  /** the compose to use: the plugin when present, else a standalone docker-compose >= 1.27 */
  compose: ComposeKind | null;
  composeVersion?: string;
  /** why a present compose was not usable */
  composeNote?: string;
}

export function dockerDetectCommands(): Probe[] {
  return [
    { id: 'docker-cli', argv: ['docker', '--version'], mayFail: true },
    { id: 'compose-v2', argv: ['docker', 'compose', 'version', '--short'], mayFail: true },
    { id: 'compose-v1', argv: ['docker-compose', 'version', '--short'], mayFail: true },
    { id: 'docker-daemon', argv: ['docker', 'info', '--format', '{{.ServerVersion}}'], needsSudo: true, mayFail: true },
  ];
}

function versionOf(text: string): string | undefined {
  return /v?(\d+\.\d+(?:\.\d+)?[0-9A-Za-z.+-]*)/.exec(text)?.[1];
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map((n) => Number.parseInt(n, 10));
  return a > major || (a === major && b >= minor);
}

export function parseDockerDetect(results: Readonly<Partial<Record<ProbeId, ProbeResult>>>): DockerFacts {
  const ok = (id: ProbeId): string | undefined => {
    const r = results[id];
    return r && r.code === 0 ? r.stdout.trim() : undefined;
  };
  const facts: DockerFacts = { docker: false, daemon: false, compose: null };
  const cli = ok('docker-cli');
  if (cli !== undefined) {
    facts.docker = true;
    facts.dockerVersion = /Docker version ([^,\s]+)/.exec(cli)?.[1] ?? versionOf(cli);
  }
  const server = ok('docker-daemon');
  if (server) {
    facts.daemon = true;
    facts.serverVersion = server;
  }
  const v2 = ok('compose-v2');
  const v1 = ok('compose-v1');
  if (v2 !== undefined && versionOf(v2)) {
    facts.compose = 'v2';
    facts.composeVersion = versionOf(v2);
  } else if (v1 !== undefined && versionOf(v1)) {
    const version = versionOf(v1)!;
    if (atLeast(version, 1, 27)) {
      facts.compose = 'v1';
      facts.composeVersion = version;
    } else {
      facts.composeNote = `docker-compose ${version} is too old (compose files without a version key need 1.27 or later); the Docker compose plugin will be installed`;
    }
  }
  return facts;
}

/** Docker and a usable compose are both there: no installation needed. */
export function dockerReady(facts: DockerFacts): boolean {
  return facts.docker && facts.compose !== null;
}

// ---------------------------------------------------------------------------------------------
// Installation (https://docs.docker.com/engine/install/ubuntu/ and .../debian/)

export const DOCKER_KEYRING = '/etc/apt/keyrings/docker.asc';
export const DOCKER_SOURCES_LIST = '/etc/apt/sources.list.d/docker.list';
export const DOCKER_CONFLICTING_PACKAGES = ['docker.io', 'docker-compose', 'docker-compose-v2', 'docker-doc', 'podman-docker', 'containerd', 'runc'];
export const DOCKER_PACKAGES = ['docker-ce', 'docker-ce-cli', 'containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin'];

/** dpkg waits for a lock held by e.g. unattended-upgrades on a fresh VM instead of failing. */
const APT_LOCK = ['-o', 'DPkg::Lock::Timeout=600'];

/** `env DEBIAN_FRONTEND=noninteractive apt-get <subcommand> -y -o DPkg::Lock::Timeout=600 ...args` */
export function aptGetArgv(subcommand: 'update' | 'install' | 'remove', ...args: string[]): Argv {
  return ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', subcommand, ...(subcommand === 'update' ? [] : ['-y']), ...APT_LOCK, ...args];
}

// Small fixed scripts; package names come in as positional parameters ("$@"), never spliced in.
const ALL_INSTALLED_SCRIPT = 'for p in "$@"; do dpkg-query -W -f=\'${Status}\' "$p" 2>/dev/null | grep -q "install ok installed" || exit 1; done';
const NONE_INSTALLED_SCRIPT = 'for p in "$@"; do if dpkg-query -W -f=\'${Status}\' "$p" 2>/dev/null | grep -q "install ok installed"; then exit 1; fi; done';
// apt-get remove fails on a name the release does not know (docker-compose-v2 on Debian 11):
// remove only those that are installed.
const REMOVE_INSTALLED_SCRIPT = [
  'set -e',
  'installed=""',
  'for p in "$@"; do if dpkg-query -W -f=\'${Status}\' "$p" 2>/dev/null | grep -q "install ok installed"; then installed="$installed $p"; fi; done',
  'if [ -n "$installed" ]; then env DEBIAN_FRONTEND=noninteractive apt-get remove -y -o DPkg::Lock::Timeout=600 $installed; fi',
].join('\n');

function shScript(script: string, ...args: string[]): Argv {
  return ['sh', '-c', script, 'sh', ...args];
}

/** Exit 0 when every package is installed. */
export function packagesInstalledArgv(packages: readonly string[]): Argv {
  return shScript(ALL_INSTALLED_SCRIPT, ...packages);
}

export function dockerAptRepoUrl(os: Pick<SupportedOs, 'id'>): string {
  return `https://download.docker.com/linux/${os.id}`;
}

export function dockerSourcesLine(os: Pick<SupportedOs, 'id' | 'codename'>, arch: Arch): string {
  return `deb [arch=${arch} signed-by=${DOCKER_KEYRING}] ${dockerAptRepoUrl(os)} ${os.codename} stable\n`;
}

/** Steps that install Docker Engine and the compose plugin the way Docker documents it. */
export function dockerInstallSteps(os: SupportedOs, arch: Arch): Step[] {
  if (!/^[a-z]+$/.test(os.codename)) throw new Error(`bad release codename "${os.codename}"`);
  const repo = dockerAptRepoUrl(os);
  const sources = dockerSourcesLine(os, arch);
  return [
    {
      id: 'docker-remove-conflicts',
      name: 'Remove conflicting container packages (docker.io, podman-docker, …)',
      check: shScript(NONE_INSTALLED_SCRIPT, ...DOCKER_CONFLICTING_PACKAGES),
      commands: [shScript(REMOVE_INSTALLED_SCRIPT, ...DOCKER_CONFLICTING_PACKAGES)],
      needsSudo: true,
    },
    {
      id: 'docker-apt-prerequisites',
      name: 'Install ca-certificates and curl',
      check: packagesInstalledArgv(['ca-certificates', 'curl']),
      commands: [aptGetArgv('update'), aptGetArgv('install', 'ca-certificates', 'curl')],
      needsSudo: true,
    },
    {
      id: 'docker-apt-repository',
      name: `Add Docker's apt repository (${os.id} ${os.codename})`,
      check: ['sh', '-c', 'test -s "$1" && grep -qxF "$3" "$2"', 'sh', DOCKER_KEYRING, DOCKER_SOURCES_LIST, sources.trimEnd()],
      commands: [
        ['install', '-m', '0755', '-d', '/etc/apt/keyrings'],
        ['curl', '-fsSL', '--retry', '3', `${repo}/gpg`, '-o', DOCKER_KEYRING],
        ['chmod', 'a+r', DOCKER_KEYRING],
        aptGetArgv('update'),
      ],
      files: [{ path: DOCKER_SOURCES_LIST, content: sources, mode: 0o644 }],
      aptRepository: repo,
      needsSudo: true,
    },
    {
      id: 'docker-install',
      name: 'Install Docker Engine and the compose plugin',
      check: packagesInstalledArgv(DOCKER_PACKAGES),
      commands: [aptGetArgv('install', ...DOCKER_PACKAGES), ['systemctl', 'enable', '--now', 'docker.service', 'containerd.service']],
      needsSudo: true,
    },
    {
      id: 'docker-verify',
      name: 'Check that Docker and compose answer',
      commands: [
        ['docker', 'info', '--format', '{{.ServerVersion}}'],
        ['docker', 'compose', 'version'],
      ],
      needsSudo: true,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// compose invocation

export interface ComposeTarget {
  kind: ComposeKind;
  /** the install directory holding compose.yaml */
  dir: string;
  /** compose project name; COMPOSE_PROJECT unless a test isolates itself */
  project?: string;
}

export function composeFile(dir: string): string {
  return posix.join(dir, HOST_LAYOUT.compose);
}

/**
 * argv of a compose command. Always with `-p` (compose.yaml cannot carry the name for v1) and `-f`
 * (so it works from any working directory):
 *   v2: docker compose -p registry-setup -f <dir>/compose.yaml <args…>
 *   v1: docker-compose -p registry-setup -f <dir>/compose.yaml <args…>
 */
export function composeCommand(kind: ComposeKind, dir: string, ...args: string[]): Argv {
  return composeArgv({ kind, dir }, ...args);
}

export function composeArgv(target: ComposeTarget, ...args: string[]): Argv {
  const project = target.project ?? COMPOSE_PROJECT;
  if (!isComposeProject(project)) throw new Error(`compose project name "${project}" must be lower-case letters, digits, '-' and '_'`);
  const base = target.kind === 'v2' ? ['docker', 'compose'] : ['docker-compose'];
  return [...base, '-p', project, '-f', composeFile(target.dir), ...args];
}

export function composeDownArgv(target: ComposeTarget, ...extra: string[]): Argv {
  return composeArgv(target, 'down', '--remove-orphans', ...extra);
}

/**
 * Make the running nginx re-read nginx.conf and the certificate files: `nginx -s reload` run in its
 * container (it finds the master through the pid file nginx.conf names, and refuses a broken file
 * with nginx's own message). Not `compose kill -s SIGHUP`: Docker marks a container it sends any
 * signal through `kill` as stopped by hand, so its restart policy no longer starts it at boot.
 */
export function nginxReloadArgv(target: ComposeTarget): Argv {
  // an nginx that compose has just (re)started has no pid file for a moment: retry, bounded
  return ['sh', '-c', RELOAD_RETRY_SCRIPT, 'sh', ...composeArgv(target, 'exec', '-T', 'nginx', 'nginx', '-c', CONTAINER_PATHS.nginxConf, '-s', 'reload')];
}

/** Runs "$@" until it succeeds, at most 10 times a second apart. */
const RELOAD_RETRY_SCRIPT = 'i=1; until "$@"; do if [ "$i" -ge 10 ]; then exit 1; fi; i=$((i + 1)); sleep 1; done';

/** Test nginx.conf (and the certificates it names) in a throwaway nginx container with the real mounts. */
export function nginxConfigTestArgv(target: ComposeTarget): Argv {
  return composeArgv(target, 'run', '--rm', '--no-deps', '-T', 'nginx', 'nginx', '-t', '-c', CONTAINER_PATHS.nginxConf);
}

/** Run the registry's own health check inside its container. */
export function registryHealthcheckArgv(target: ComposeTarget): Argv {
  return composeArgv(target, 'exec', '-T', 'registry', 'node', CONTAINER_PATHS.registryBundle, IMAGE_COMMANDS.healthcheck);
}

// ---------------------------------------------------------------------------------------------
// apt's own report of a repository it could not fetch

/** `apt-get update` argv (the step's commands compare against it to find the update). */
export function isAptUpdateArgv(argv: Argv): boolean {
  const at = argv.indexOf('apt-get');
  return at >= 0 && argv[at + 1] === 'update';
}

/**
 * Why apt could not fetch `repoUrl`, read from `apt-get update`'s output (stdout and stderr), or
 * undefined when it was fetched. apt reports the same failure in several shapes:
 *   Err:4 https://download.docker.com/linux/debian trixie InRelease
 *     Could not resolve 'download.docker.com'
 *   W: Failed to fetch https://download.docker.com/linux/debian/dists/trixie/InRelease  Could not resolve 'download.docker.com'
 *   W: GPG error: https://download.docker.com/linux/debian trixie InRelease: The following signatures couldn't be verified …
 *   E: The repository 'https://download.docker.com/linux/debian trixie Release' does not have a Release file.
 */
export function aptFetchFailure(output: string, repoUrl: string): string | undefined {
  const lines = output.split(/\r?\n/);
  const base = repoUrl.replace(/\/+$/, '');
  const ours = (url: string) => url === base || url.startsWith(`${base}/`) || url.startsWith(`${base} `);
  const reasons: string[] = [];
  for (const [i, line] of lines.entries()) {
    let m = /^W: Failed to fetch (\S+)\s+(.*)$/.exec(line);
    if (m && ours(m[1]!) && m[2]!.trim()) reasons.push(m[2]!.trim());
    m = /^W: GPG error: (\S+) [^:]*: (.*)$/.exec(line);
    if (m && ours(m[1]!)) reasons.push(m[2]!.trim());
    m = /^Err:\d+ (\S+)/.exec(line);
    if (m && ours(m[1]!)) {
      const next = lines[i + 1];
      if (next && /^\s+\S/.test(next)) reasons.push(next.trim());
    }
    m = /^E: The repository '([^']+)' (.*)$/.exec(line);
    if (m && ours(m[1]!)) reasons.push(`the repository ${m[2]!.trim().replace(/\.$/, '')}`);
  }
  // the most specific reason first: a network or signature error explains the "no Release file" after it
  return reasons[0];
}

// ---------------------------------------------------------------------------------------------
// Where Docker comes from

/**
 * Whether Docker's repository has a suite for the release: prints the HTTP status of its Release
 * file (curl, else wget; exit 127 when the host has neither). Read-only.
 */
export function dockerSuiteProbeArgv(os: Pick<SupportedOs, 'id' | 'codename'>): Argv {
  if (!/^[a-z]+$/.test(os.codename)) throw new Error(`bad release codename "${os.codename}"`);
  const url = `${dockerAptRepoUrl(os)}/dists/${os.codename}/Release`;
  const script = [
    'if command -v curl >/dev/null 2>&1; then exec curl -sS -o /dev/null -w "%{http_code}" --max-time 30 "$1"; fi',
    'if command -v wget >/dev/null 2>&1; then wget -q --spider -T 30 "$1"; case $? in 0) echo 200;; 8) echo 404;; *) exit 2;; esac; exit 0; fi',
    'exit 127',
  ].join('\n');
  return ['sh', '-c', script, 'sh', url];
}

export type SuiteProbe = { state: 'present' } | { state: 'absent'; status: string } | { state: 'unknown'; reason: string };

export function parseSuiteProbe(result: { code: number | null; stdout: string; stderr?: string }): SuiteProbe {
  if (result.code === 127) return { state: 'unknown', reason: 'the host has neither curl nor wget to ask it' };
  const status = result.stdout.trim();
  if (result.code === 0 && status === '200') return { state: 'present' };
  // S3 behind download.docker.com answers 403 for a key that does not exist
  if (result.code === 0 && (status === '404' || status === '403')) return { state: 'absent', status };
  const why = result.stderr?.trim().split('\n').slice(-1)[0] || (status ? `HTTP ${status}` : `exit ${result.code}`);
  return { state: 'unknown', reason: why };
}

/** The release's own Docker packages and their candidates, read-only. */
export const DISTRIBUTION_DOCKER_PACKAGES = ['docker.io', 'docker-cli', 'docker-compose', 'docker-compose-v2'] as const;
export function aptPolicyArgv(packages: readonly string[] = DISTRIBUTION_DOCKER_PACKAGES): Argv {
  return ['apt-cache', 'policy', ...packages];
}

/** `apt-cache policy a b`: package → candidate version (undefined when apt has none). */
export function parseAptPolicy(text: string): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  let current: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const head = /^(\S+):$/.exec(line);
    if (head) {
      current = head[1]!;
      out[current] = undefined;
      continue;
    }
    const cand = /^\s+Candidate:\s*(\S+)/.exec(line);
    if (cand && current) out[current] = cand[1] === '(none)' ? undefined : cand[1];
  }
  return out;
}

/** `1:2.26.1-4` → 2 */
function upstreamMajor(version: string): number {
  const noEpoch = version.includes(':') ? version.slice(version.indexOf(':') + 1) : version;
  return Number.parseInt(noEpoch, 10);
}

/**
 * Which of the release's packages give Docker Engine, its CLI and Compose v2, or why they cannot.
 * Ubuntu calls Compose v2 `docker-compose-v2`; Debian 13 ships it as `docker-compose` 2.x (Debian 12's
 * `docker-compose` 1.29 is Compose v1, which registry-setup does not install).
 */
export function distributionDockerPackages(candidates: Readonly<Record<string, string | undefined>>, release: string): { packages: string[] } | { problem: string } {
  if (!candidates['docker.io']) return { problem: `${release} has no docker.io package` };
  const packages = ['docker.io'];
  // Debian 13 split the CLI out of docker.io (only recommended there)
  if (candidates['docker-cli']) packages.push('docker-cli');
  const composeV1 = candidates['docker-compose'];
  if (candidates['docker-compose-v2']) packages.push('docker-compose-v2');
  else if (composeV1 && upstreamMajor(composeV1) >= 2) packages.push('docker-compose');
  else {
    return { problem: `${release} has no Compose v2 package${composeV1 ? ` (its docker-compose ${composeV1} is Compose v1)` : ''}` };
  }
  return { packages };
}

/**
 * Steps that install the release's own Docker packages (`packages` from distributionDockerPackages,
 * decided after an apt-get update). Docker's packages must not be there: apt would refuse the pair.
 */
export function distributionDockerInstallSteps(packages: readonly string[]): Step[] {
  return [
    {
      id: 'docker-install',
      name: `Install ${packages.join(', ')} from the distribution`,
      check: packagesInstalledArgv(packages),
      commands: [aptGetArgv('install', ...packages), ['systemctl', 'enable', '--now', 'docker.service']],
      needsSudo: true,
    },
    {
      id: 'docker-verify',
      name: 'Check that Docker answers',
      commands: [['docker', 'info', '--format', '{{.ServerVersion}}']],
      needsSudo: true,
    },
  ];
}
