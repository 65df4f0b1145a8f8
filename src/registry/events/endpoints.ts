import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../config-error.js';
import { compileGlob, GlobError, type CompiledGlob } from '../auth/glob.js';

export type EventAction = 'push' | 'pull' | 'delete';
const ACTIONS: readonly EventAction[] = ['push', 'pull', 'delete'];

/** One receiver of notifications, as `--notify URL` or an entry of the endpoints file gives it. */
export interface Endpoint {
  name: string;
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Only these actions are sent (all by default). */
  actions: ReadonlySet<EventAction>;
  /** Only events of repositories matching one of these globs are sent (all by default). */
  repositories: CompiledGlob[] | null;
  /** Signs each body: `X-Registry-Signature: sha256=<hex HMAC of the body>`. */
  hmacSecret?: string;
}

export const DEFAULT_TIMEOUT_MS = 5_000;

export function checkEndpointUrl(url: string, what: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`${what}: ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`${what}: ${url} must be http:// or https://`);
  if (u.username || u.password) throw new ConfigError(`${what}: put credentials in the endpoints file's headers, not in the URL (URLs appear in logs)`);
  return u.toString();
}

export function endpointFromUrl(url: string, index: number): Endpoint {
  return {
    name: `notify-${index + 1}`,
    url: checkEndpointUrl(url, '--notify'),
    headers: {},
    timeoutMs: DEFAULT_TIMEOUT_MS,
    actions: new Set(ACTIONS),
    repositories: null,
  };
}

/**
 * The endpoints file (YAML or JSON):
 * `endpoints: [{name, url, headers: {H: v}, timeout: 5s, actions: [push, delete], repositories: [globs], hmacSecretFile}]`.
 */
export function readEndpointsFile(file: string, parseDuration: (text: string, what: string) => number): Endpoint[] {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`--notify-config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const list = (doc as { endpoints?: unknown })?.endpoints;
  if (!Array.isArray(list)) throw new ConfigError(`--notify-config ${file}: needs an "endpoints:" list`);
  return parseEndpointList(list, `--notify-config ${file}`, parseDuration);
}

/**
 * The endpoints list itself (also `notify:` of registry-setup.yaml, checked by deploy): `where`
 * starts each message; `readSecret` reads an hmacSecretFile (deploy checks the shape only).
 */
export function parseEndpointList(
  list: unknown[],
  whereList: string,
  parseDuration: (text: string, what: string) => number,
  readSecret: (file: string) => string = (f) => readFileSync(f, 'utf8'),
): Endpoint[] {
  const names = new Set<string>();
  return list.map((raw, i) => {
    const where = `${whereList}: endpoint ${i + 1}`;
    const e = raw as Record<string, unknown>;
    if (!e || typeof e !== 'object') throw new ConfigError(`${where}: not a mapping`);
    const name = typeof e.name === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(e.name) ? e.name : `endpoint-${i + 1}`;
    if (names.has(name)) throw new ConfigError(`${where}: the name ${name} is used twice`);
    names.add(name);
    if (typeof e.url !== 'string') throw new ConfigError(`${where}: needs url`);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries((e.headers as Record<string, unknown>) ?? {})) {
      if (!/^[A-Za-z0-9-]+$/.test(k) || typeof v !== 'string' || /[\r\n]/.test(v)) throw new ConfigError(`${where}: header ${k} must be a name and a one-line string`);
      headers[k] = v;
    }
    const actions = e.actions === undefined ? ACTIONS : (e.actions as unknown[]);
    if (!Array.isArray(actions) || actions.some((a) => !ACTIONS.includes(a as EventAction))) {
      throw new ConfigError(`${where}: actions must be a list of push, pull, delete`);
    }
    let repositories: CompiledGlob[] | null = null;
    if (e.repositories !== undefined) {
      if (!Array.isArray(e.repositories)) throw new ConfigError(`${where}: repositories must be a list of globs`);
      try {
        repositories = e.repositories.map((g) => compileGlob(String(g)));
      } catch (err) {
        if (err instanceof GlobError) throw new ConfigError(`${where}: ${err.message}`);
        throw err;
      }
    }
    let hmacSecret: string | undefined;
    if (e.hmacSecretFile !== undefined) {
      try {
        hmacSecret = readSecret(String(e.hmacSecretFile)).trim();
      } catch (err) {
        throw new ConfigError(`${where}: cannot read hmacSecretFile ${String(e.hmacSecretFile)}: ${(err as NodeJS.ErrnoException).code}`);
      }
      if (hmacSecret.length < 16) throw new ConfigError(`${where}: hmacSecretFile must hold at least 16 characters`);
    }
    return {
      name,
      url: checkEndpointUrl(e.url, where),
      headers,
      timeoutMs: e.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(String(e.timeout), `${where}: timeout`),
      actions: new Set(actions as EventAction[]),
      repositories,
      hmacSecret,
    };
  });
}
