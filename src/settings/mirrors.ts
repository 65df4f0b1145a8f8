// `mirrors:` of registry-setup.yaml: the pull-through cache's upstreams for a deployment. Each entry
// is read by the payload's own parser (src/registry/mirror/settings.ts), so deploy accepts exactly
// what `serve --mirror` does, and checked here once for files, flags and the host's record alike.
import { ConfigError, parseDuration } from '../registry/config.js';
import { checkMirrors, parseMirror, readMirrorCredentials } from '../registry/mirror/settings.js';
import type { MirrorEntry } from './settings.js';

export class MirrorSettingsError extends Error {}

const ENTRY_KEYS = ['prefix', 'url', 'credentials', 'default'] as const;

/**
 * A list of `PREFIX=URL` strings or mappings `{ prefix, url, credentials: <local file>, default: true }`;
 * an empty list turns mirroring off. `where` names the key in messages (`registry-setup.yaml: mirrors`).
 */
export function parseMirrorList(value: unknown, where: string): MirrorEntry[] {
  if (!Array.isArray(value)) throw new MirrorSettingsError(`${where} must be a list of PREFIX=URL entries, e.g. - docker.io=https://registry-1.docker.io`);
  const entries = value.map((item, i) => parseEntry(item, `${where}[${i}]`));
  try {
    checkMirrors(
      entries.map((e) => ({ prefix: e.prefix, url: e.url })),
      undefined,
    );
  } catch (err) {
    if (err instanceof ConfigError) throw new MirrorSettingsError(`${where}: ${err.message.replace(/^--mirror: /, '')}`);
    throw err;
  }
  const defaults = entries.filter((e) => e.default);
  if (defaults.length > 1) throw new MirrorSettingsError(`${where}: only one mirror can be the default (${defaults.map((d) => d.prefix).join(', ')} are)`);
  return entries;
}

function parseEntry(item: unknown, where: string): MirrorEntry {
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ConfigError) throw new MirrorSettingsError(err.message);
      throw err;
    }
  };
  if (typeof item === 'string') return composeSafe(wrap(() => parseMirror(item, where)), where);
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new MirrorSettingsError(`${where}: expected PREFIX=URL or a mapping with prefix and url`);
  }
  const raw = item as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!(ENTRY_KEYS as readonly string[]).includes(key)) throw new MirrorSettingsError(`${where}: unknown key "${key}" (known: ${ENTRY_KEYS.join(', ')})`);
  }
  for (const key of ['prefix', 'url'] as const) {
    if (typeof raw[key] !== 'string') throw new MirrorSettingsError(`${where}.${key} must be a string`);
  }
  const parsed = wrap(() => parseMirror(`${raw.prefix as string}=${raw.url as string}`, `${where}`));
  const entry: MirrorEntry = composeSafe({ prefix: parsed.prefix, url: parsed.url }, where);
  if (raw.credentials !== undefined && raw.credentials !== null) {
    if (typeof raw.credentials !== 'string' || raw.credentials.trim() === '') throw new MirrorSettingsError(`${where}.credentials must be the path of a local file`);
    entry.credentials = raw.credentials;
  }
  if (raw.default !== undefined && raw.default !== null) {
    if (typeof raw.default !== 'boolean') throw new MirrorSettingsError(`${where}.default must be true or false`);
    if (raw.default) entry.default = true;
  }
  return entry;
}

/**
 * The URL goes into compose.yaml's REGISTRY_MIRRORS (a comma-separated list that compose
 * interpolates): a host name with ',' or '$' is a valid URL but would change that list.
 */
function composeSafe(entry: MirrorEntry, where: string): MirrorEntry {
  if (/[\s,$]/.test(entry.url)) throw new MirrorSettingsError(`${where}: ${entry.url} must not contain spaces, commas or '$'`);
  return entry;
}

/** `mirrorTagTtl`: a duration the payload reads (REGISTRY_MIRRORS_TAGTTL). */
export function mirrorTagTtlProblem(value: string): string | undefined {
  try {
    parseDuration(value, 'x');
    return undefined;
  } catch {
    return `"${value}" is not a duration like 5m, 1h or 30s`;
  }
}

/** The mirror that also answers unprefixed names (Docker's registry-mirrors), if any. */
export function defaultMirror(mirrors: readonly MirrorEntry[] | undefined): MirrorEntry | undefined {
  return mirrors?.find((m) => m.default);
}

/**
 * The credentials files of the mirrors that have one, read here before any host is contacted:
 * checked by the payload's reader (0600, username and password lines) and normalized to the two
 * lines the registry reads. Keyed by prefix.
 */
export function readMirrorCredentialFiles(mirrors: readonly MirrorEntry[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of mirrors ?? []) {
    if (m.credentials === undefined) continue;
    try {
      const c = readMirrorCredentials(m.credentials, `mirrors: ${m.prefix}: credentials`);
      out.set(m.prefix, `username = ${c.username}\npassword = ${c.password}\n`);
    } catch (err) {
      if (err instanceof ConfigError) throw new MirrorSettingsError(err.message);
      throw err;
    }
  }
  return out;
}

/**
 * With --config, the file's `mirrors:` is the whole list: a list removed from the file turns
 * mirroring off rather than keeping what the host recorded (an explicit empty list, which
 * `withoutEmptyMirrors` then drops so that no saved file or record carries `mirrors: []`).
 */
export function mirrorsOfConfigFile<T extends { mirrors?: MirrorEntry[] }>(file: T): T {
  return file.mirrors === undefined ? { ...file, mirrors: [] } : file;
}

export function withoutEmptyMirrors<T extends { mirrors?: MirrorEntry[] }>(settings: T): T {
  if (settings.mirrors === undefined || settings.mirrors.length > 0) return settings;
  const { mirrors: _none, ...rest } = settings;
  return rest as T;
}
