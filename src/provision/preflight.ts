// Pre-flight facts about a host: which commands to run, and pure parsers of their output.
import { formatBytes } from '../registry/format-bytes.js';
import type { DeploySettings } from '../settings/settings.js';
import { COMPOSE_PROJECT } from '../host/contract.js';
import { dockerDetectCommands, parseDockerDetect, type DockerFacts } from './docker.js';
import { parseUfwStatus, UFW_STATUS_ARGV, type UfwState } from './firewall.js';
import { PreflightError, type Argv } from './step.js';

// ---------------------------------------------------------------------------------------------
// OS

export interface OsInfo {
  /** ID= (lower case), e.g. "ubuntu", "debian" */
  id: string;
  /** VERSION_ID=, e.g. "22.04", "12"; "" when absent (Debian testing/sid) */
  versionId: string;
  /** VERSION_CODENAME= (or UBUNTU_CODENAME=), e.g. "jammy"; "" when absent */
  codename: string;
  /** PRETTY_NAME=, for messages */
  prettyName: string;
}

export interface SupportedOs extends OsInfo {
  id: 'ubuntu' | 'debian';
  codename: string;
  /**
   * false: a Debian or Ubuntu release this version does not know yet. It is deployed to only where
   * Docker is already installed, or can come from Docker's repository or the distribution (checked
   * on the host before anything changes).
   */
  known: boolean;
}

/**
 * Releases this version knows, with the codename Docker's apt repository files them under. The
 * ones the test suite boots for real are listed in README ("Supported hosts").
 */
export const KNOWN_RELEASES: readonly { id: 'ubuntu' | 'debian'; versionId: string; codename: string; name: string }[] = [
  { id: 'ubuntu', versionId: '20.04', codename: 'focal', name: 'Ubuntu 20.04' },
  { id: 'ubuntu', versionId: '22.04', codename: 'jammy', name: 'Ubuntu 22.04' },
  { id: 'ubuntu', versionId: '24.04', codename: 'noble', name: 'Ubuntu 24.04' },
  { id: 'ubuntu', versionId: '25.04', codename: 'plucky', name: 'Ubuntu 25.04' },
  { id: 'ubuntu', versionId: '25.10', codename: 'questing', name: 'Ubuntu 25.10' },
  { id: 'ubuntu', versionId: '26.04', codename: 'resolute', name: 'Ubuntu 26.04' },
  { id: 'debian', versionId: '11', codename: 'bullseye', name: 'Debian 11' },
  { id: 'debian', versionId: '12', codename: 'bookworm', name: 'Debian 12' },
  { id: 'debian', versionId: '13', codename: 'trixie', name: 'Debian 13' },
];

const KNOWN_LIST = 'Debian 11-13 and Ubuntu 20.04-26.04';

function unquote(raw: string): string {
  const v = raw.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1);
  return v;
}

/** Parses /etc/os-release (shell-style KEY=value lines, values optionally quoted). */
export function parseOsRelease(text: string): OsInfo {
  const vars = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) vars.set(m[1]!, unquote(m[2]!));
  }
  const id = (vars.get('ID') ?? '').toLowerCase();
  const versionId = vars.get('VERSION_ID') ?? '';
  const codename = vars.get('VERSION_CODENAME') || vars.get('UBUNTU_CODENAME') || '';
  const prettyName = vars.get('PRETTY_NAME') || [vars.get('NAME'), vars.get('VERSION')].filter(Boolean).join(' ') || id || 'an unknown system';
  return { id, versionId, codename, prettyName };
}

/** A codename as it may stand in an apt suite and a URL. */
const CODENAME_RE = /^[a-z]+$/;

/**
 * Debian and Ubuntu only. A known release gets its codename from the table when os-release lacks
 * it; a release not in the table is accepted as `known: false` when it names its codename (Docker's
 * repository and apt are organised by it); what that means for installing Docker is decided with
 * facts from the host (src/deploy/docker-install.ts).
 */
export function checkSupportedOs(os: OsInfo): SupportedOs {
  const found = `${os.prettyName} (ID=${os.id || '?'}, VERSION_ID=${os.versionId || '?'})`;
  if (os.id !== 'ubuntu' && os.id !== 'debian') {
    throw new PreflightError(`unsupported operating system: found ${found}; supported: ${KNOWN_LIST}, and newer Debian and Ubuntu releases where Docker can be installed`);
  }
  const release = KNOWN_RELEASES.find((r) => r.id === os.id && r.versionId === os.versionId);
  if (release) return { ...os, id: release.id, codename: os.codename || release.codename, known: true };
  if (!CODENAME_RE.test(os.codename)) {
    throw new PreflightError(`cannot tell which ${os.id === 'ubuntu' ? 'Ubuntu' : 'Debian'} release this is: found ${found} without a VERSION_CODENAME in /etc/os-release; supported: ${KNOWN_LIST}`);
  }
  return { ...os, id: os.id, codename: os.codename, known: false };
}

/** The warning every command prints for a release this version does not know. */
export function unknownReleaseWarning(os: SupportedOs, why: string): string {
  return `${os.prettyName} is not among the releases registry-setup knows (${KNOWN_LIST}); going on because ${why}, but this release is untested`;
}

// ---------------------------------------------------------------------------------------------
// CPU architecture

export type Arch = 'amd64' | 'arm64';

/** `uname -m` → Docker/Debian architecture name; anything but x86-64 and 64-bit ARM is refused. */
export function parseUnameMachine(text: string): Arch {
  const machine = text.trim();
  if (machine === 'x86_64' || machine === 'amd64') return 'amd64';
  if (machine === 'aarch64' || machine === 'arm64' || machine === 'armv8l') return 'arm64';
  throw new PreflightError(`unsupported CPU architecture: found "${machine || 'nothing'}" (uname -m); supported: x86_64 (amd64) and aarch64 (arm64)`);
}

// ---------------------------------------------------------------------------------------------
// Disk space

export interface DiskFree {
  filesystem: string;
  totalBytes: number;
  usedBytes: number;
  availableBytes: number;
  mountedOn: string;
}

/** Below this, deploying is refused. */
export const MIN_FREE_BYTES = 2 * 1024 ** 3;
/** Below this, a warning: images add up quickly. */
export const RECOMMENDED_FREE_BYTES = 10 * 1024 ** 3;

/**
 * `df -Pk` for the nearest existing ancestor of `path` (the install and data directories usually do
 * not exist yet). The path is passed as a positional parameter, never spliced into the script.
 */
export function diskFreeArgv(path: string): Argv {
  return ['sh', '-c', 'p=$1; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; exec df -Pk "$p"', 'sh', path];
}

/** Parses POSIX `df -Pk` output (header + one line per file system); returns the first entry. */
export function parseDfPk(text: string): DiskFree {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  for (const line of lines) {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(.+)$/.exec(line.trim());
    if (m) {
      return {
        filesystem: m[1]!,
        totalBytes: Number(m[2]) * 1024,
        usedBytes: Number(m[3]) * 1024,
        availableBytes: Number(m[4]) * 1024,
        mountedOn: m[6]!,
      };
    }
  }
  throw new PreflightError(`cannot read the free disk space from df output: ${JSON.stringify(text.slice(0, 300))}`);
}


/** 'ok', or a message: error below `minBytes`, warning below `recommendedBytes`. */
export function checkDiskSpace(
  disk: DiskFree,
  what: string,
  minBytes = MIN_FREE_BYTES,
  recommendedBytes = RECOMMENDED_FREE_BYTES,
): { level: 'ok' | 'warning' | 'error'; message?: string } {
  const where = `${what} (${disk.mountedOn})`;
  if (disk.availableBytes < minBytes) {
    return { level: 'error', message: `only ${formatBytes(disk.availableBytes)} free on ${where}; at least ${formatBytes(minBytes)} is needed` };
  }
  if (disk.availableBytes < recommendedBytes) {
    return { level: 'warning', message: `${formatBytes(disk.availableBytes)} free on ${where}; images fill a disk quickly, ${formatBytes(recommendedBytes)} or more is recommended` };
  }
  return { level: 'ok' };
}

// ---------------------------------------------------------------------------------------------
// Ports

export interface ListeningSocket {
  address: string;
  port: number;
  /** from `ss -p` (root only), e.g. "nginx" */
  process?: string;
  pid?: number;
}

/** Listening TCP sockets, with process names when run as root. */
export const LISTENING_PORTS_ARGV: Argv = ['ss', '-ltnpH'];

/** Parses `ss -ltnH` / `ss -ltnpH` output. */
export function parseSsListening(text: string): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split(/\r?\n/)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4) continue;
    // State Recv-Q Send-Q Local:Port Peer:Port [Process]; without -H a header line comes first.
    let i = 0;
    if (/^[A-Z-]+$/.test(cols[0]!) && /^\d+$/.test(cols[1] ?? '')) i = 3;
    else if (/^\d+$/.test(cols[0]!) && /^\d+$/.test(cols[1] ?? '')) i = 2; // some ss builds omit State with -l
    else continue;
    const local = cols[i];
    if (!local) continue;
    const colon = local.lastIndexOf(':');
    if (colon < 0) continue;
    const port = Number(local.slice(colon + 1));
    if (!Number.isInteger(port)) continue;
    const address = local.slice(0, colon).replace(/^\[|\]$/g, '');
    const socket: ListeningSocket = { address, port };
    const proc = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    if (proc) {
      socket.process = proc[1]!;
      socket.pid = Number(proc[2]);
    }
    out.push(socket);
  }
  return out;
}

export interface PublishedPort {
  container: string;
  hostAddress: string;
  hostPort: number;
  containerPort: number;
}

/** Containers of our compose project with their published ports (tab-separated name and ports). */
export function ourContainersArgv(project = COMPOSE_PROJECT): Argv {
  return ['docker', 'ps', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}\t{{.Ports}}'];
}

/** Parses the output of ourContainersArgv(): `name\t0.0.0.0:80->8080/tcp, :::80->8080/tcp, 5000/tcp`. */
export function parseDockerPsPorts(text: string): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const tab = line.indexOf('\t');
    const container = (tab < 0 ? line : line.slice(0, tab)).trim();
    const ports = tab < 0 ? '' : line.slice(tab + 1);
    for (const part of ports.split(',')) {
      const m = /^\s*(.*):(\d+)(?:-(\d+))?->(\d+)(?:-(\d+))?\/tcp\s*$/.exec(part);
      if (!m) continue;
      const hostAddress = m[1]!.replace(/^\[|\]$/g, '');
      const first = Number(m[2]);
      const last = m[3] ? Number(m[3]) : first;
      const containerFirst = Number(m[4]);
      for (let p = first; p <= last; p += 1) {
        out.push({ container, hostAddress, hostPort: p, containerPort: containerFirst + (p - first) });
      }
    }
  }
  return out;
}

export type PortState = 'free' | 'ours' | 'taken';

export interface PortCheck {
  port: number;
  state: PortState;
  /** for 'taken': who holds it, as well as we can tell */
  holder?: string;
  message?: string;
}

/**
 * Whether `port` can be published. Any listener on the port blocks Docker's 0.0.0.0 publish, unless
 * it is a container of our own compose project (a re-deploy): then it is 'ours' and fine.
 */
export function checkPort(port: number, sockets: readonly ListeningSocket[], ours: readonly PublishedPort[], what = `port ${port}`): PortCheck {
  const mine = ours.find((p) => p.hostPort === port);
  if (mine) return { port, state: 'ours', holder: mine.container };
  const listeners = sockets.filter((s) => s.port === port);
  if (listeners.length === 0) return { port, state: 'free' };
  const named = listeners.find((s) => s.process);
  const holder = named ? `${named.process}${named.pid ? ` (pid ${named.pid})` : ''}` : `something listening on ${listeners[0]!.address}:${port}`;
  const hint = named?.process === 'docker-proxy' ? ': another Docker container publishes it' : named?.process === 'nginx' || named?.process === 'apache2' || named?.process === 'caddy' ? ': a web server on the host uses it' : '';
  return { port, state: 'taken', holder, message: `${what} is in use by ${holder}${hint}; stop it or choose another port` };
}

// ---------------------------------------------------------------------------------------------
// The whole pre-flight

export type ProbeId =
  | 'os-release'
  | 'arch'
  | 'disk-dir'
  | 'disk-data'
  | 'ports'
  | 'our-containers'
  | 'docker-cli'
  | 'compose-v2'
  | 'compose-v1'
  | 'docker-daemon'
  | 'ufw';

export interface Probe {
  id: ProbeId;
  argv: Argv;
  needsSudo?: boolean;
  /** a non-zero exit is a fact (e.g. "no docker"), not a failure of the pre-flight */
  mayFail?: boolean;
}

export interface ProbeResult {
  code: number | null;
  stdout: string;
  stderr?: string;
}

/** Read-only commands whose output assessPreflight() turns into facts and problems. */
export function preflightCommands(settings: Pick<DeploySettings, 'dir' | 'dataDir'>, project = COMPOSE_PROJECT): Probe[] {
  return [
    { id: 'os-release', argv: ['cat', '/etc/os-release'] },
    { id: 'arch', argv: ['uname', '-m'] },
    { id: 'disk-dir', argv: diskFreeArgv(settings.dir) },
    { id: 'disk-data', argv: diskFreeArgv(settings.dataDir) },
    // -p needs root to name the processes of other users
    { id: 'ports', argv: LISTENING_PORTS_ARGV, needsSudo: true },
    { id: 'our-containers', argv: ourContainersArgv(project), needsSudo: true, mayFail: true },
    { id: 'ufw', argv: UFW_STATUS_ARGV, needsSudo: true, mayFail: true },
    ...dockerDetectCommands(),
  ];
}

export interface PreflightReport {
  os?: SupportedOs;
  arch?: Arch;
  disk: { dir?: DiskFree; data?: DiskFree };
  docker: DockerFacts;
  /** undefined: no ufw on the host */
  ufw?: UfwState;
  ports: PortCheck[];
  errors: string[];
  warnings: string[];
}

export function assessPreflight(
  settings: Pick<DeploySettings, 'dir' | 'dataDir' | 'httpPort' | 'httpsPort'>,
  results: Readonly<Partial<Record<ProbeId, ProbeResult>>>,
): PreflightReport {
  const errors: string[] = [];
  const warnings: string[] = [];
  const get = (id: ProbeId): ProbeResult | undefined => results[id];
  const required = (id: ProbeId, what: string): string | undefined => {
    const r = get(id);
    if (!r) {
      errors.push(`${what}: not checked`);
      return undefined;
    }
    if (r.code !== 0) {
      errors.push(`${what}: the check failed (exit ${r.code})${r.stderr?.trim() ? `: ${r.stderr.trim().split('\n').slice(-1)[0]}` : ''}`);
      return undefined;
    }
    return r.stdout;
  };
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      errors.push((e as Error).message);
      return undefined;
    }
  };

  const report: PreflightReport = { disk: {}, docker: parseDockerDetect(results), ports: [], errors, warnings };
  const ufw = results.ufw ? parseUfwStatus(results.ufw) : undefined;
  if (ufw) report.ufw = ufw;

  const osText = required('os-release', 'operating system');
  if (osText !== undefined) report.os = attempt(() => checkSupportedOs(parseOsRelease(osText)));
  const archText = required('arch', 'CPU architecture');
  if (archText !== undefined) report.arch = attempt(() => parseUnameMachine(archText));

  const dfDir = required('disk-dir', `free space for ${settings.dir}`);
  if (dfDir !== undefined) report.disk.dir = attempt(() => parseDfPk(dfDir));
  const dfData = required('disk-data', `free space for ${settings.dataDir}`);
  if (dfData !== undefined) report.disk.data = attempt(() => parseDfPk(dfData));
  if (report.disk.data) {
    const c = checkDiskSpace(report.disk.data, `the data directory ${settings.dataDir}`);
    if (c.level === 'error') errors.push(c.message!);
    if (c.level === 'warning') warnings.push(c.message!);
  }
  if (report.disk.dir && report.disk.dir.filesystem !== report.disk.data?.filesystem) {
    // the install directory holds little, but Docker's images live on the root file system
    const c = checkDiskSpace(report.disk.dir, `the install directory ${settings.dir}`, 512 * 1024 ** 2, 2 * 1024 ** 3);
    if (c.level === 'error') errors.push(c.message!);
    if (c.level === 'warning') warnings.push(c.message!);
  }

  const ssText = required('ports', 'ports in use');
  if (ssText !== undefined) {
    const sockets = parseSsListening(ssText);
    const psResult = get('our-containers');
    const ours = psResult?.code === 0 ? parseDockerPsPorts(psResult.stdout) : [];
    for (const [port, what] of [
      [settings.httpPort, `the http port ${settings.httpPort}`],
      [settings.httpsPort, `the https port ${settings.httpsPort}`],
    ] as const) {
      const check = checkPort(port, sockets, ours, what);
      report.ports.push(check);
      if (check.state === 'taken') errors.push(check.message!);
    }
  }

  if (report.docker.composeNote) warnings.push(report.docker.composeNote);
  return report;
}
