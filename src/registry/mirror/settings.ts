import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../config-error.js';
import { isValidName } from '../names.js';

/** One upstream registry served under a name prefix: `<prefix>/<name>` is `<name>` upstream. */
export interface MirrorSettings {
  prefix: string;
  /** `https://host[:port]` (http only for loopback test beds); no path, no credentials. */
  url: string;
  /** A file with `username = …` and `password = …` lines for the upstream. */
  credentialsFile?: string;
}

export interface MirrorCredentials {
  username: string;
  password: string;
}

/** `PREFIX=URL`, checked in this one place for flags and `REGISTRY_MIRRORS` alike. */
export function parseMirror(text: string, what: string): MirrorSettings {
  const i = text.indexOf('=');
  if (i <= 0) throw new ConfigError(`${what}: "${text}" is not PREFIX=URL, e.g. docker.io=https://registry-1.docker.io`);
  const prefix = text.slice(0, i).trim();
  const raw = text.slice(i + 1).trim();
  return { prefix: parseMirrorPrefix(prefix, what), url: parseUpstreamUrl(raw, what) };
}

export function parseMirrorPrefix(prefix: string, what: string): string {
  if (!isValidName(prefix)) throw new ConfigError(`${what}: "${prefix}" is not a repository name prefix like docker.io or ghcr.io`);
  return prefix;
}

function parseUpstreamUrl(raw: string, what: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${what}: "${raw}" is not a URL like https://registry-1.docker.io`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${what}: ${raw}: the upstream must be https:// (or http://)`);
  if (url.username || url.password) throw new ConfigError(`${what}: put upstream credentials in a file (--mirror-credentials PREFIX=FILE), never in the URL`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) throw new ConfigError(`${what}: ${raw}: give the registry's address only, without a path`);
  return url.origin;
}

/** `PREFIX=FILE` pairs: each prefix must be a configured mirror. */
export function attachCredentials(mirrors: MirrorSettings[], pairs: string[], what: string): MirrorSettings[] {
  const out = mirrors.map((m) => ({ ...m }));
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new ConfigError(`${what}: "${pair}" is not PREFIX=FILE`);
    const prefix = pair.slice(0, i).trim();
    const mirror = out.find((m) => m.prefix === prefix);
    if (!mirror) throw new ConfigError(`${what}: no mirror has the prefix "${prefix}"; add --mirror ${prefix}=URL`);
    mirror.credentialsFile = pair.slice(i + 1).trim();
    readMirrorCredentials(mirror.credentialsFile, what); // fails at start, not at the first pull
  }
  return out;
}

/** Mirrors must not overlap: `a` and `a/b` would make `a/b/x` ambiguous. */
export function checkMirrors(mirrors: MirrorSettings[], defaultPrefix: string | undefined): void {
  for (const a of mirrors) {
    for (const b of mirrors) {
      if (a !== b && (a.prefix === b.prefix || b.prefix.startsWith(`${a.prefix}/`))) {
        throw new ConfigError(`--mirror: the prefixes "${a.prefix}" and "${b.prefix}" overlap; give each upstream its own prefix`);
      }
    }
  }
  if (defaultPrefix !== undefined && !mirrors.some((m) => m.prefix === defaultPrefix)) {
    throw new ConfigError(`--mirror-default ${defaultPrefix}: no mirror has that prefix; add --mirror ${defaultPrefix}=URL`);
  }
}

/** `username = …` and `password = …` lines (`#` comments); the file must not be readable by others. */
export function readMirrorCredentials(file: string, what = '--mirror-credentials'): MirrorCredentials {
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) throw new ConfigError(`${what}: ${file} is readable by other users; chmod 600 it`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([a-z_]+)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (m && !line.trim().startsWith('#')) values[m[1]!] = m[2]!;
  }
  if (!values.username || !values.password) throw new ConfigError(`${what}: ${file} needs a "username = …" and a "password = …" line`);
  return { username: values.username, password: values.password };
}
