import { promises as fs } from 'node:fs';
import YAML from 'yaml';
import { parseStorageUrl } from '../registry/storage/s3/settings.js';
import { MirrorSettingsError, mirrorTagTtlProblem, parseMirrorList } from './mirrors.js';
import { retentionProblem } from './retention.js';
import { notifyProblem } from './notify.js';
import { accessFromConfigText, accessSection, AccessSettingError, checkAccessText } from './access.js';
import { hostPathProblem, isComposeProject, isHostName, isPort, isPublishAddress, isPeerAddress, storageComposeProblem } from './rules.js';
import { isImageRef } from './rules.js';
import { DEFAULT_SETTINGS, DOCKER_SOURCES, HOST_KEYS, type DeploySettings, type HostEntry, type HostKey, type TlsMode } from './settings.js';

export class SettingsError extends Error {}

/** The settings a user can give, from flags, a config file or the host's record; all optional. */
export type PartialSettings = Partial<DeploySettings>;

/** registry-setup.yaml: settings for every host, and either one `target` or a `hosts:` list. */
export type ConfigFile = PartialSettings & { hosts?: HostEntry[] };

const TLS_MODES: TlsMode[] = ['self-signed', 'custom', 'letsencrypt'];
const KEYS: (keyof DeploySettings)[] = [
  'target', 'domain', 'email', 'user', 'tls', 'cert', 'key', 'httpPort', 'httpsPort', 'dir', 'dataDir',
  'nodeImage', 'nginxImage', 'acmeDirectory', 'staging', 'acmeCa', 'ui', 'storage', 'composeProject', 'publishAddress',
  'dockerSource',
  'sendImages',
  'mirrors', 'mirrorTagTtl',
  'retention',
  'notify',
  'access',
  'peerAddress',
];
/** The settings every host of a deployment shares (taken from the first host when they disagree). */
export const SHARED_KEYS = KEYS.filter((k) => !(HOST_KEYS as readonly string[]).includes(k));
const NUMBER_KEYS = new Set<keyof DeploySettings>(['httpPort', 'httpsPort']);
const BOOLEAN_KEYS = new Set<keyof DeploySettings>(['staging', 'ui', 'sendImages']);
/** Sections of registry-setup.yaml (no flag gives them). */
const MAPPING_KEYS = new Set<keyof DeploySettings>(['retention']);

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const USER_RE = /^[A-Za-z0-9._-]{1,64}$/;

export function validateDomain(value: string): string | true {
  return isHostName(value) ? true : `"${value}" is not a host name like registry.example.com`;
}
export function validateEmail(value: string): string | true {
  return EMAIL_RE.test(value) ? true : `"${value}" is not an e-mail address`;
}
export function validateUser(value: string): string | true {
  return USER_RE.test(value) ? true : `"${value}": use 1-64 letters, digits, dots, dashes or underscores`;
}

/** Reads and checks a registry-setup.yaml; unknown keys are errors so typos do not go unnoticed. */
export async function loadConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    throw new SettingsError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new SettingsError(`${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new SettingsError(`${path}: expected a mapping of settings`);
  const { hosts, ...rest } = doc as Record<string, unknown>;
  // access: a mapping in the file, checked with its lines there; deployed as text
  if (rest.access !== undefined && rest.access !== null) rest.access = accessOrSettingsError(() => accessFromConfigText(text, path));
  const settings: ConfigFile = checkPartial(rest, path);
  if (hosts === undefined || hosts === null) return settings;
  if (settings.target !== undefined) throw new SettingsError(`${path}: give either target or hosts, not both`);
  if (!Array.isArray(hosts) || hosts.length === 0) throw new SettingsError(`${path}: hosts must be a list of targets (user@host[:port]) or of mappings with a target`);
  settings.hosts = hosts.map((h, i) => checkHostEntry(h, `${path}: hosts[${i}]`));
  return settings;
}

/** `root@h` or `{ target: root@h, dir: /opt/a, httpPort: 8081, … }` (only the per-host settings). */
function checkHostEntry(entry: unknown, source: string): HostEntry {
  if (typeof entry === 'string') return { target: entry };
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new SettingsError(`${source}: expected a target or a mapping with a target`);
  for (const key of Object.keys(entry)) {
    if (!(HOST_KEYS as readonly string[]).includes(key)) throw new SettingsError(`${source}: "${key}" cannot differ between hosts (per-host settings: ${HOST_KEYS.join(', ')})`);
  }
  const checked = checkPartial(entry as Record<string, unknown>, source);
  if (!checked.target) throw new SettingsError(`${source}: no target`);
  return checked as HostEntry;
}

/**
 * Types and keys; with `formats` (flags and config files) each value's format too. A host's record
 * is read without the format checks: one written by an older version must stay readable.
 */
export function checkPartial(doc: Record<string, unknown>, source: string, { formats = true }: { formats?: boolean } = {}): PartialSettings {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    if (!KEYS.includes(key as keyof DeploySettings)) throw new SettingsError(`${source}: unknown setting "${key}" (known: ${KEYS.join(', ')}${source === 'flags' ? '' : ', hosts'})`);
    const k = key as keyof DeploySettings;
    if (value === null || value === undefined) continue;
    if (k === 'mirrors') {
      out[key] = checkMirrorList(value, source);
      continue;
    }
    if (NUMBER_KEYS.has(k)) {
      if (typeof value !== 'number' || !isPort(value)) throw new SettingsError(`${source}: ${key} must be a port number`);
    } else if (k === 'notify') {
      if (!Array.isArray(value)) throw new SettingsError(`${source}: notify must be a list of endpoints (url, headers, timeout, actions, repositories, hmacSecretFile)`);
    } else if (MAPPING_KEYS.has(k)) {
      if (typeof value !== 'object' || Array.isArray(value)) throw new SettingsError(`${source}: ${key} must be a mapping`);
    } else if (BOOLEAN_KEYS.has(k)) {
      if (typeof value !== 'boolean') throw new SettingsError(`${source}: ${key} must be true or false`);
    } else if (typeof value !== 'string') {
      throw new SettingsError(`${source}: ${key} must be a string`);
    }
    out[key] = value;
  }
  // each value is checked where it is given, so a typo fails before any host is contacted
  if (formats) checkValues(out as PartialSettings, (key) => (source === 'flags' ? flagOf(key) : `${source}: ${key}`));
  return out as PartialSettings;
}

/** `mirrors:` (a list, unlike every other setting), checked by its own parser. */
function checkMirrorList(value: unknown, source: string) {
  try {
    return parseMirrorList(value, `${source}: mirrors`);
  } catch (err) {
    if (err instanceof MirrorSettingsError) throw new SettingsError(err.message);
    throw err;
  }
}

const flagOf = (key: keyof DeploySettings): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The format of every value that is present; `name` says where it came from in messages. */
function checkValues(s: PartialSettings, name: (key: keyof DeploySettings) => string): void {
  const fail = (key: keyof DeploySettings, problem: string): never => {
    throw new SettingsError(`${name(key)}: ${problem}`);
  };
  if (s.tls !== undefined && !TLS_MODES.includes(s.tls)) fail('tls', `must be one of ${TLS_MODES.join(', ')}, not "${s.tls}"`);
  if (s.dockerSource !== undefined && !DOCKER_SOURCES.includes(s.dockerSource)) fail('dockerSource', `must be one of ${DOCKER_SOURCES.join(', ')}, not "${s.dockerSource}"`);
  for (const [key, check] of [['domain', validateDomain], ['user', validateUser], ['email', validateEmail]] as const) {
    const value = s[key];
    if (value === undefined) continue;
    const ok = check(value);
    if (ok !== true) fail(key, ok);
  }
  for (const key of ['dir', 'dataDir'] as const) {
    const problem = s[key] === undefined ? undefined : hostPathProblem(s[key]);
    if (problem) fail(key, problem);
  }
  for (const key of ['httpPort', 'httpsPort'] as const) {
    const value = s[key];
    if (value !== undefined && !isPort(value)) fail(key, `${value} is not a port number (1-65535)`);
  }
  if (s.httpPort !== undefined && s.httpPort === s.httpsPort) fail('httpsPort', 'must differ from the HTTP port');
  if (s.storage !== undefined) {
    const composeProblem = storageComposeProblem(s.storage);
    if (composeProblem) fail('storage', composeProblem);
    try {
      parseStorageUrl(s.storage);
    } catch (err) {
      fail('storage', (err as Error).message);
    }
  }
  if (s.composeProject !== undefined && !isComposeProject(s.composeProject)) {
    fail('composeProject', `compose project name "${s.composeProject}" must be lower-case letters, digits, '-' and '_'`);
  }
  if (s.mirrorTagTtl !== undefined) {
    const problem = mirrorTagTtlProblem(s.mirrorTagTtl);
    if (problem) fail('mirrorTagTtl', problem);
  }
  if (s.publishAddress !== undefined && !isPublishAddress(s.publishAddress)) {
    fail('publishAddress', `publish address "${s.publishAddress}" must be an IPv4 address or a bracketed IPv6 address`);
  }
  if (s.peerAddress !== undefined && !isPeerAddress(s.peerAddress)) {
    fail('peerAddress', `peer address "${s.peerAddress}" must be a host name, an IPv4 address or a bracketed IPv6 address, optionally with :port`);
  }
  if (s.retention !== undefined) {
    const problem = retentionProblem(s.retention);
    if (problem) fail('retention', problem);
  }
  if (s.notify !== undefined) {
    const problem = notifyProblem(s.notify);
    if (problem) fail('notify', problem);
  }
  if (s.access !== undefined) accessOrSettingsError(() => checkAccessText(s.access!, name('access')));
  for (const key of ['nodeImage', 'nginxImage'] as const) {
    const value = s[key];
    if (value !== undefined && !isImageRef(value)) fail(key, `"${value}" is not an image reference`);
  }
}

function accessOrSettingsError<T>(run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof AccessSettingError) throw new SettingsError(err.message);
    throw err;
  }
}

/**
 * The YAML the user can commit and pass back with --config (no secrets in it). Several hosts become
 * a `hosts:` list that keeps only what differs between them (the rest is said once, at the top).
 */
export function renderConfigFile(settings: DeploySettings | DeploySettings[]): string {
  const list = Array.isArray(settings) ? settings : [settings];
  const first = list[0]!;
  const doc: Record<string, unknown> = {};
  if (list.length === 1) {
    for (const key of KEYS) if (first[key] !== undefined) doc[key] = first[key];
  } else {
    const defaultData = (s: DeploySettings) => s.dataDir === `${s.dir.replace(/\/+$/, '')}/data`;
    const same = (key: HostKey) => list.every((s) => s[key] === first[key]);
    for (const key of KEYS) {
      if (key === 'target' || first[key] === undefined) continue;
      if (key === 'dataDir' && list.every(defaultData)) continue;
      if (!(HOST_KEYS as readonly string[]).includes(key) || same(key as HostKey)) doc[key] = first[key];
    }
    doc.hosts = list.map((s) => {
      const entry: Record<string, unknown> = { target: s.target };
      for (const key of HOST_KEYS) {
        if (key === 'target' || key in doc || s[key] === undefined || (key === 'dataDir' && defaultData(s))) continue;
        entry[key] = s[key];
      }
      return Object.keys(entry).length === 1 ? s.target : entry;
    });
  }
  if (typeof doc.access === 'string') doc.access = accessSection(doc.access);
  return `# registry-setup settings: pass back with --config (contains no secrets)\n${YAML.stringify(doc)}`;
}

/**
 * The hosts a command works on: the targets given on the command line (each picking up its
 * per-host settings from the config file's hosts list when listed there), else the config file's
 * hosts or target. Empty when there are none.
 */
export function planHosts(targets: readonly string[], file: ConfigFile): HostEntry[] {
  const listed = file.hosts ?? (file.target ? [{ target: file.target }] : []);
  if (targets.length === 0) return listed.map((h) => ({ ...h }));
  return targets.map((target) => ({ ...(listed.find((h) => h.target === target) ?? {}), target }));
}

/** One host's layers before what its host recorded: flags > its hosts entry > the file's settings. */
export function hostLayers(flags: PartialSettings, entry: HostEntry, file: ConfigFile): PartialSettings {
  const { hosts: _hosts, ...common } = file;
  return mergeSettings([{ ...flags, target: entry.target }, entry, common]);
}

/** Several hosts serve one registry: the shared settings come from the first host's view. */
export function shareSettings<T extends PartialSettings>(list: T[]): T[] {
  const first = list[0];
  if (!first) return list;
  return list.map((s, i) => {
    if (i === 0) return s;
    const out = { ...s } as Record<string, unknown>;
    for (const key of SHARED_KEYS) {
      if (first[key] === undefined) delete out[key];
      else out[key] = first[key];
    }
    return out as T;
  });
}

/**
 * Checks what only a list of hosts can get wrong: several hosts need a shared bucket (each would
 * otherwise keep its own images), and two deployments on one machine need their own directory,
 * compose project and ports.
 */
export function checkHostList(list: DeploySettings[]): void {
  if (list.length < 2) return;
  if (!list[0]!.storage) {
    throw new SettingsError(`${list.length} hosts need a shared S3-compatible bucket for the images: give --storage s3://bucket/prefix?endpoint=… (and --s3-credentials FILE)`);
  }
  for (const [i, a] of list.entries()) {
    for (const b of list.slice(i + 1)) {
      if (a.target !== b.target) continue;
      const clash = a.dir === b.dir ? 'install directory' : (a.composeProject ?? '') === (b.composeProject ?? '') ? 'compose project' : a.httpPort === b.httpPort || a.httpsPort === b.httpsPort || a.httpPort === b.httpsPort || a.httpsPort === b.httpPort ? 'port' : undefined;
      if (clash) throw new SettingsError(`${a.target} is listed twice with the same ${clash}: deployments on one machine need their own dir, composeProject and ports`);
    }
  }
}

/**
 * Precedence: flags > --config file > what the host recorded at the last deploy > defaults.
 * Missing required answers are reported together, naming the flags that give them.
 */
export function mergeSettings(layers: PartialSettings[]): PartialSettings {
  const merged: PartialSettings = {};
  for (const layer of [...layers].reverse()) {
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  }
  return merged;
}

/** Where the images live when --data-dir is not given. */
export const defaultDataDir = (dir: string): string => `${dir.replace(/\/+$/, '')}/data`;

export function completeSettings(partial: PartialSettings): DeploySettings {
  const s = { ...DEFAULT_SETTINGS, ...partial } as PartialSettings & typeof DEFAULT_SETTINGS;
  const missing: string[] = [];
  if (!s.target) missing.push('<target>');
  if (!s.domain) missing.push('--domain');
  if (!s.user) missing.push('--user');
  if (s.tls === 'letsencrypt' && !s.email) missing.push('--email (Let\'s Encrypt needs one)');
  if (s.tls === 'custom' && (!s.cert || !s.key)) missing.push('--cert and --key (for --tls custom)');
  if (missing.length) throw new SettingsError(`missing settings: ${missing.join(', ')}`);
  const dataDir = s.dataDir ?? defaultDataDir(s.dir);
  // the merged values (a host record's among them) pass the same checks as flags and files
  checkValues({ ...s, dataDir }, flagOf);
  return { ...s, dataDir } as DeploySettings;
}
