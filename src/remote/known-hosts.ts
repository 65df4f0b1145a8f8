// OpenSSH known_hosts: parsing, host matching (plain, wildcard/negated patterns, hashed
// `|1|salt|hash` entries, `[host]:port` for ports other than 22), fingerprints, appending.
// Pure functions plus two small file helpers; the connect-time policy lives in host-key.ts.
import { createHash, createHmac } from 'node:crypto';
import { appendFile, chmod, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  /** the host field as written: comma-separated patterns, or one hashed `|1|salt|hash` */
  hosts: string;
  keyType: string;
  /** the raw public key blob (SSH wire format) */
  key: Buffer;
  /** 1-based line number, for messages */
  line: number;
}

/** `host` for port 22, `[host]:port` otherwise — the name OpenSSH records and looks up. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** `SHA256:<base64 without padding>`, the format of `ssh-keygen -lf` and of ssh's prompts. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside a public key blob (its first SSH string), e.g. `ssh-ed25519`. */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const len = key.readUInt32BE(0);
  if (len <= 0 || len > 64 || 4 + len > key.length) return 'unknown';
  return key.subarray(4, 4 + len).toString('latin1');
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m !== '@revoked' && m !== '@cert-authority') continue; // unknown marker: ignored, like ssh
      marker = m;
    }
    if (fields.length < 3) continue;
    const [hosts, keyType, b64] = fields as [string, string, string];
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) continue;
    const key = Buffer.from(b64, 'base64');
    if (key.length === 0) continue;
    entries.push({ ...(marker ? { marker } : {}), hosts, keyType, key, line: i + 1 });
  }
  return entries;
}

/** OpenSSH's wildcard match: `*` any run of characters, `?` exactly one. Case-insensitive. */
function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')))
      .join('')}$`,
    'is',
  );
  return re.test(text);
}

function hashedMatch(field: string, name: string): boolean {
  const parts = field.split('|'); // ['', '1', salt, hash]
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2]!, 'base64');
  const want = Buffer.from(parts[3]!, 'base64');
  const got = createHmac('sha1', salt).update(name).digest();
  return want.length === got.length && want.equals(got);
}

/** Does the host field of an entry match `name` (already in knownHostsName form)? */
export function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|')) return hashedMatch(hosts, name);
  let matched = false;
  for (const raw of hosts.split(',')) {
    if (!raw) continue;
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (globMatch(pattern, name)) {
      if (negated) return false; // a negated match excludes the entry whatever else matches
      matched = true;
    }
  }
  return matched;
}

export type HostKeyStatus =
  | { status: 'known' }
  | { status: 'unknown' }
  /** the host has entries and none holds the offered key */
  | { status: 'changed'; knownTypes: string[] }
  | { status: 'revoked' };

/** Classifies the key `key` offered by `host`:`port` against parsed entries. */
export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyStatus {
  const name = knownHostsName(host, port);
  const mine = entries.filter((e) => hostFieldMatches(e.hosts, name));
  if (mine.some((e) => e.marker === '@revoked' && e.key.equals(key))) return { status: 'revoked' };
  const plain = mine.filter((e) => e.marker === undefined);
  if (plain.some((e) => e.key.equals(key))) return { status: 'known' };
  if (plain.length === 0) return { status: 'unknown' };
  return { status: 'changed', knownTypes: [...new Set(plain.map((e) => e.keyType))] };
}

/** The key types recorded for a host, so that the handshake can prefer them (as ssh does). */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const name = knownHostsName(host, port);
  const types = entries.filter((e) => e.marker === undefined && hostFieldMatches(e.hosts, name)).map((e) => e.keyType);
  return [...new Set(types)];
}

/** Reads and parses a known_hosts file; a missing file is an empty list. */
export async function readKnownHosts(path: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** One known_hosts line for a key (plain, not hashed), without the newline. */
export function knownHostsLine(host: string, port: number, key: Buffer): string {
  return `${knownHostsName(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/**
 * Appends a line for the key, creating the directory (0700) and the file (0600) if missing.
 * Adds a newline first when the file does not end with one.
 */
export async function appendKnownHost(path: string, host: string, port: number, key: Buffer): Promise<void> {
  const dir = dirname(path);
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (created !== undefined) await chmod(dir, 0o700); // mkdir's mode is filtered by the umask
  let prefix = '';
  try {
    const existing = await readFile(path);
    if (existing.length > 0 && existing[existing.length - 1] !== 0x0a) prefix = '\n';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await appendFile(path, `${prefix}${knownHostsLine(host, port, key)}\n`, { mode: 0o600 });
}
