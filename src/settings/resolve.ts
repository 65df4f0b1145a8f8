import { promises as fs } from 'node:fs';
import YAML from 'yaml';
import { DEFAULT_SETTINGS, type DeploySettings, type TlsMode } from './settings.js';

export class SettingsError extends Error {}

/** The settings a user can give, from flags, a config file or the host's record; all optional. */
export type PartialSettings = Partial<DeploySettings>;

const TLS_MODES: TlsMode[] = ['self-signed', 'custom', 'letsencrypt'];
const KEYS: (keyof DeploySettings)[] = [
  'target', 'domain', 'email', 'user', 'tls', 'cert', 'key', 'httpPort', 'httpsPort', 'dir', 'dataDir',
  'nodeImage', 'nginxImage', 'acmeDirectory', 'staging', 'acmeCa', 'ui',
];
const NUMBER_KEYS = new Set<keyof DeploySettings>(['httpPort', 'httpsPort']);
const BOOLEAN_KEYS = new Set<keyof DeploySettings>(['staging', 'ui']);

const DOMAIN_RE = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/i;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const USER_RE = /^[A-Za-z0-9._-]{1,64}$/;

export function validateDomain(value: string): string | true {
  return DOMAIN_RE.test(value) ? true : `"${value}" is not a host name like registry.example.com`;
}
export function validateEmail(value: string): string | true {
  return EMAIL_RE.test(value) ? true : `"${value}" is not an e-mail address`;
}
export function validateUser(value: string): string | true {
  return USER_RE.test(value) ? true : `"${value}": use 1-64 letters, digits, dots, dashes or underscores`;
}

/** Reads and checks a registry-setup.yaml; unknown keys are errors so typos do not go unnoticed. */
export async function loadConfigFile(path: string): Promise<PartialSettings> {
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
  return checkPartial(doc as Record<string, unknown>, path);
}

export function checkPartial(doc: Record<string, unknown>, source: string): PartialSettings {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    if (!KEYS.includes(key as keyof DeploySettings)) throw new SettingsError(`${source}: unknown setting "${key}" (known: ${KEYS.join(', ')})`);
    const k = key as keyof DeploySettings;
    if (value === null || value === undefined) continue;
    if (NUMBER_KEYS.has(k)) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) throw new SettingsError(`${source}: ${key} must be a port number`);
    } else if (BOOLEAN_KEYS.has(k)) {
      if (typeof value !== 'boolean') throw new SettingsError(`${source}: ${key} must be true or false`);
    } else if (typeof value !== 'string') {
      throw new SettingsError(`${source}: ${key} must be a string`);
    }
    out[key] = value;
  }
  return out as PartialSettings;
}

/** The YAML the user can commit and pass back with --config (no secrets in it). */
export function renderConfigFile(settings: DeploySettings): string {
  const doc: Record<string, unknown> = {};
  for (const key of KEYS) if (settings[key] !== undefined) doc[key] = settings[key];
  return `# registry-setup settings: pass back with --config (contains no secrets)\n${YAML.stringify(doc)}`;
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

export function completeSettings(partial: PartialSettings): DeploySettings {
  const s = { ...DEFAULT_SETTINGS, ...partial } as PartialSettings & typeof DEFAULT_SETTINGS;
  const missing: string[] = [];
  if (!s.target) missing.push('<target>');
  if (!s.domain) missing.push('--domain');
  if (!s.user) missing.push('--user');
  if (s.tls === 'letsencrypt' && !s.email) missing.push('--email (Let\'s Encrypt needs one)');
  if (s.tls === 'custom' && (!s.cert || !s.key)) missing.push('--cert and --key (for --tls custom)');
  if (missing.length) throw new SettingsError(`missing settings: ${missing.join(', ')}`);
  if (!TLS_MODES.includes(s.tls)) throw new SettingsError(`--tls must be one of ${TLS_MODES.join(', ')}, not "${s.tls}"`);
  for (const [check, value] of [[validateDomain, s.domain], [validateUser, s.user]] as const) {
    const ok = check(value!);
    if (ok !== true) throw new SettingsError(ok);
  }
  if (s.email) {
    const ok = validateEmail(s.email);
    if (ok !== true) throw new SettingsError(ok);
  }
  if (!s.dir.startsWith('/')) throw new SettingsError(`--dir must be an absolute path on the host, not "${s.dir}"`);
  const dataDir = s.dataDir ?? `${s.dir.replace(/\/+$/, '')}/data`;
  if (!dataDir.startsWith('/')) throw new SettingsError(`--data-dir must be an absolute path on the host, not "${dataDir}"`);
  if (s.httpPort === s.httpsPort) throw new SettingsError('--http-port and --https-port must differ');
  return { ...s, dataDir } as DeploySettings;
}
