import { mkdirSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RemoteHost, parseTarget, terminalInteraction, type SudoPasswordSource } from '../remote/index.js';
import { SettingsError } from '../settings/resolve.js';
import { DEFAULT_SETTINGS } from '../settings/settings.js';
import { eachHost, Output } from '../console/output.js';
import { MIN_PASSWORD_LENGTH } from '../users/credentials.js';

/** Options every command that talks to a host shares. */
export interface HostFlags {
  config?: string;
  yes?: boolean;
  json?: boolean;
  identity?: string;
  dir?: string;
  /** a file holding the login user's sudo password; `-` reads it from stdin */
  sudoPasswordFile?: string;
}

export function isInteractive(flags: HostFlags): boolean {
  return !flags.yes && !flags.json && process.stdin.isTTY === true && process.stderr.isTTY === true;
}

/** ~/.registry-setup/logs/<host>-<time>.log: every remote command, secrets redacted. */
export function commandLogPath(host: string, command: string): string {
  const dir = path.join(os.homedir(), '.registry-setup', 'logs');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return path.join(dir, `${command}-${host.replace(/[^A-Za-z0-9.-]/g, '_')}-${stamp}.log`);
}

/**
 * Everything that wants stdin, by the flag that says so: at most one may have it. Called before
 * anything is read, so a clash is one line before any host is contacted.
 */
export function checkStdinClaims(flags: HostFlags & { passwordStdin?: boolean; s3Credentials?: string }): void {
  const claims = [
    flags.passwordStdin ? '--password-stdin' : undefined,
    flags.s3Credentials === '-' ? '--s3-credentials -' : undefined,
    flags.sudoPasswordFile === '-' ? '--sudo-password-file -' : undefined,
  ].filter((c): c is string => c !== undefined);
  if (claims.length > 1) throw new SettingsError(`${claims.join(' and ')} cannot ${claims.length === 2 ? 'both' : 'all'} read stdin: give ${claims.length > 2 ? 'all but one' : 'one of them'} as a file`);
}

/** --sudo-password-file: the file (or stdin) read once for every host; one trailing newline is dropped. */
export async function readSudoPassword(flags: HostFlags): Promise<SudoPasswordSource | undefined> {
  const file = flags.sudoPasswordFile;
  if (file === undefined) return undefined;
  if (file === '-') return { password: await readStdinSecret('--sudo-password-file -'), source: '--sudo-password-file - (stdin)' };
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new SettingsError(`--sudo-password-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (!password) throw new SettingsError(`--sudo-password-file ${file}: the file is empty`);
  if (/[\r\n]/.test(password)) throw new SettingsError(`--sudo-password-file ${file}: holds more than one line; put only the password in it`);
  return { password, source: `--sudo-password-file ${file}` };
}

export async function connectHost(
  target: string,
  flags: HostFlags,
  output: Output,
  command: string,
  logName?: string,
  sudoPassword?: SudoPasswordSource,
): Promise<{ host: RemoteHost; logFile: string }> {
  const parsed = parseTarget(target, { identity: flags.identity });
  const logFile = commandLogPath(logName ?? parsed.host, command);
  const interactive = isInteractive(flags);
  const host = await output.step('connect', `Connect to ${parsed.user}@${parsed.host}:${parsed.port}`, async () => {
    const h = await RemoteHost.connect(parsed, {
      identity: flags.identity,
      interaction: terminalInteraction({ assumeYes: flags.yes, interactive }),
      logFile,
      ...(sudoPassword ? { sudoPassword } : {}),
    });
    return { status: 'skipped' as const, detail: 'connected', host: h };
  }, { mayPrompt: interactive });
  return { host: host.host, logFile };
}

/**
 * How each host is named in output: its target, or `target:dir` when the same target is listed
 * more than once (several deployments on one machine).
 */
export function hostLabels(list: readonly { target: string; dir?: string }[]): string[] {
  return list.map((h) => (list.filter((o) => o.target === h.target).length > 1 ? `${h.target}:${h.dir ?? DEFAULT_SETTINGS.dir}` : h.target));
}

export interface ConnectedHost {
  host: RemoteHost;
  logFile: string;
  label: string;
  /** the command's output, or (with several hosts) this host's part of it */
  output: Output;
}

/**
 * Connects to every host: side by side, or one after the other when a host key or password may
 * have to be asked. On a failure the connections already made are closed again.
 */
export async function connectHosts(list: readonly { target: string; label: string }[], flags: HostFlags, output: Output, command: string): Promise<ConnectedHost[]> {
  const several = list.length > 1;
  checkStdinClaims(flags);
  const sudoPassword = await readSudoPassword(flags);
  const connected: ConnectedHost[] = [];
  const one = async (h: { target: string; label: string }, i: number) => {
    const out = several ? output.forHost(h.label) : output;
    const c = await connectHost(h.target, flags, out, command, several ? h.label : undefined, sudoPassword);
    connected[i] = { ...c, label: h.label, output: out };
  };
  try {
    if (isInteractive(flags) && several) for (const [i, h] of list.entries()) await one(h, i);
    else await eachHost(list, (h) => h.label, one);
  } catch (err) {
    for (const c of connected) c?.host.close();
    throw err;
  }
  return connected;
}

/** Reads a secret piped on stdin (e.g. --password-stdin); one trailing newline is dropped. */
export async function readStdinSecret(what: string): Promise<string> {
  if (process.stdin.isTTY) throw new Error(`${what}: nothing is piped on stdin (use: printf %s "$PASSWORD" | registry-setup …)`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (!text) throw new Error(`${what}: stdin was empty`);
  return text;
}

/** A registry user's password from stdin (--password-stdin). */
export async function readStdinPassword(): Promise<string> {
  const password = await readStdinSecret('--password-stdin');
  if ([...password].length < MIN_PASSWORD_LENGTH) throw new Error(`--password-stdin: the password is too short; use at least ${MIN_PASSWORD_LENGTH} characters (or leave out --password-stdin to have one generated)`);
  return password;
}
