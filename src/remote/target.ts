// `<target>` → where and as whom to connect. Accepts `[user@]host[:port]`, `[user@][v6addr]:port`,
// a bare IPv6 address, `ssh://[user@]host[:port]`, or a Host alias from ~/.ssh/config (HostName,
// User, Port, IdentityFile, ProxyJump and HostKeyAlias are honoured, with ssh's %-tokens).
// Precedence follows ssh: what the target string says beats the config, the config beats defaults
// (port 22, the local user name).
import { existsSync, readFileSync } from 'node:fs';
import { homedir, hostname as localHostname, userInfo } from 'node:os';
import { isIPv6 } from 'node:net';
import { isAbsolute, join } from 'node:path';
import SSHConfig from 'ssh-config';

export interface SshTarget {
  user: string;
  host: string;
  port: number;
  /** private keys to try, in order: -i, then the config's IdentityFile and ~/.ssh/id_{ed25519,ecdsa,rsa} that exist */
  identityFiles: string[];
  /** raw ProxyJump value (`[user@]host[:port]`, comma-separated for a chain); absent for none */
  proxyJump?: string;
  /** the ~/.ssh/config Host name used, when the config changed the host name */
  alias?: string;
  /** name to look up in known_hosts instead of the host name (ssh's HostKeyAlias) */
  hostKeyAlias?: string;
}

export interface TargetOptions {
  /** -i: a private key file tried before any other */
  identity?: string;
  /** ssh client config; default ~/.ssh/config; null to read none */
  sshConfigPath?: string | null;
  /** home directory for ~ and the default key files; default os.homedir() */
  homeDir?: string;
  /** a -J style jump host list that overrides the config's ProxyJump */
  proxyJump?: string;
}

export const DEFAULT_IDENTITY_NAMES = ['id_ed25519', 'id_ecdsa', 'id_rsa'] as const;

export interface SplitTarget {
  user?: string;
  host: string;
  port?: number;
}

function parsePort(text: string, whole: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new Error(`invalid port "${text}" in SSH target "${whole}" (expected 1-65535)`);
  }
  return Number(text);
}

/** Splits `[ssh://][user@]host[:port]` (IPv6 in brackets, or bare without a port) without config. */
export function splitTarget(target: string): SplitTarget {
  let rest = target.trim();
  if (!rest) throw new Error('empty SSH target: expected [user@]host[:port]');
  if (/[\s\0-\x1f\x7f]/.test(rest)) throw new Error(`invalid SSH target "${target}": no spaces or control characters allowed`);
  if (rest.toLowerCase().startsWith('ssh://')) rest = rest.slice(6).replace(/\/$/, '');
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (!user) throw new Error(`invalid SSH target "${target}": empty user name before "@"`);
  }
  let host: string;
  let port: number | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new Error(`invalid SSH target "${target}": missing "]" after the IPv6 address`);
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after) {
      if (!after.startsWith(':')) throw new Error(`invalid SSH target "${target}": expected ":port" after "]"`);
      port = parsePort(after.slice(1), target);
    }
  } else if ((rest.match(/:/g) ?? []).length > 1) {
    // a bare IPv6 address: only the bracketed form can carry a port
    if (!isIPv6(rest)) throw new Error(`invalid SSH target "${target}": expected [user@]host[:port], or an IPv6 address (in brackets to add a port)`);
    host = rest;
  } else {
    const colon = rest.indexOf(':');
    host = colon >= 0 ? rest.slice(0, colon) : rest;
    if (colon >= 0) port = parsePort(rest.slice(colon + 1), target);
  }
  if (!host) throw new Error(`invalid SSH target "${target}": no host name`);
  if (host.startsWith('-')) throw new Error(`invalid SSH target "${target}": a host name cannot start with "-"`);
  return { ...(user !== undefined ? { user } : {}), host, ...(port !== undefined ? { port } : {}) };
}

function localUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'root';
  }
}

function loadConfig(path: string | null): SSHConfig | undefined {
  if (path === null) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read SSH config ${path}: ${(e as Error).message}`);
  }
  try {
    return SSHConfig.parse(text);
  } catch (e) {
    throw new Error(`cannot read SSH config ${path}: ${(e as Error).message.split('\n')[0]}; fix the file (every SSH command reads it)`);
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

interface Tokens {
  home: string;
  host: string; // %h: the remote host name (after HostName)
  alias: string; // %n: the name as given
  port: number;
  user: string; // %r
}

/** Expands ~ and ssh's %-tokens (%% %d %h %l %n %p %r %u) as ssh_config(5) does for IdentityFile. */
export function expandTokens(value: string, t: Tokens): string {
  let v = value;
  if (v === '~' || v.startsWith('~/')) v = t.home + v.slice(1);
  return v.replace(/%([%dhlnpru])/g, (_, c: string) => {
    switch (c) {
      case '%': return '%';
      case 'd': return t.home;
      case 'h': return t.host;
      case 'l': return localHostname();
      case 'n': return t.alias;
      case 'p': return String(t.port);
      case 'r': return t.user;
      default: return localUserName(); // %u
    }
  });
}

/**
 * Resolves a target string into connection parameters. Reads the ssh config synchronously.
 * `Match exec` blocks are not evaluated (they would run shell commands); `Include` is not followed.
 */
export function parseTarget(target: string, opts: TargetOptions = {}): SshTarget {
  const home = opts.homeDir ?? homedir();
  const split = splitTarget(target);
  const configPath = opts.sshConfigPath === undefined ? join(home, '.ssh', 'config') : opts.sshConfigPath;
  const config = loadConfig(configPath);
  const computed = config?.compute({ Host: split.host, ...(split.user !== undefined ? { User: split.user } : {}) }, { ignoreCase: true, matchExec: false }) ?? {};

  const tokens0: Tokens = { home, host: split.host, alias: split.host, port: split.port ?? 22, user: split.user ?? '' };
  const configHost = first(computed.hostname);
  const host = configHost ? expandTokens(configHost, tokens0) : split.host;
  const configPort = first(computed.port);
  const port = split.port ?? (configPort ? parsePort(configPort, `${target} (Port in ${configPath})`) : 22);
  const user = split.user ?? first(computed.user) ?? localUserName();
  const tokens: Tokens = { home, host, alias: split.host, port, user };

  const identityFiles: string[] = [];
  const add = (p: string): void => {
    const abs = isAbsolute(p) ? p : join(home, p);
    if (!identityFiles.includes(abs)) identityFiles.push(abs);
  };
  if (opts.identity) {
    const p = expandTokens(opts.identity, tokens);
    if (!existsSync(p)) throw new Error(`identity file not found: ${p}`);
    add(p);
  }
  const configured = computed.identityfile;
  for (const f of Array.isArray(configured) ? configured : configured ? [configured] : []) {
    const p = expandTokens(f, tokens);
    if (existsSync(p)) add(p);
  }
  for (const name of DEFAULT_IDENTITY_NAMES) {
    const p = join(home, '.ssh', name);
    if (existsSync(p)) add(p);
  }

  const jump = opts.proxyJump ?? first(computed.proxyjump);
  const hostKeyAlias = first(computed.hostkeyalias);
  return {
    user,
    host,
    port,
    identityFiles,
    ...(jump && jump.toLowerCase() !== 'none' ? { proxyJump: expandTokens(jump, tokens) } : {}),
    ...(host !== split.host ? { alias: split.host } : {}),
    ...(hostKeyAlias ? { hostKeyAlias } : {}),
  };
}

/** The hops of a ProxyJump value, each resolved like a target (aliases, users, ports, keys). */
export function parseJumpHosts(proxyJump: string, opts: TargetOptions = {}): SshTarget[] {
  return proxyJump
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean)
    .map((hop) => {
      // a hop's own ProxyJump is not followed: the chain is the list given here
      const { proxyJump: _ignored, ...rest } = parseTarget(hop, { ...opts, proxyJump: 'none' });
      return rest;
    });
}

/** `user@host:port` for messages (IPv6 in brackets). */
export function describeTarget(t: Pick<SshTarget, 'user' | 'host' | 'port'>): string {
  const h = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${t.user}@${h}${t.port === 22 ? '' : `:${t.port}`}`;
}
