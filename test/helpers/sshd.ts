// A real OpenSSH server for tests: `sshd -D -e -f <own config>` on 127.0.0.1 and a free port, with
// generated host keys and a generated client key, everything in a temp dir that stop() removes.
// Reusable by e2e tests that deploy onto this same machine (as root, with clientKeyPath).
//
//   const sshd = await startSshd();             // throws if sshd is missing (see sshdSkipReason)
//   ... connect to 127.0.0.1:sshd.port as root with sshd.clientKeyPath ...
//   await sshd.stop();
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { run } from './exec.js';
import { freePort } from './net.js';
import { startProcess, type ManagedProcess } from './process.js';
import { makeTempDir, removeDir } from './tmp.js';

export const SSHD_PATH = '/usr/sbin/sshd';

export type KeyType = 'ed25519' | 'ecdsa' | 'rsa';

export interface SshdOptions {
  /** host key types, in the order sshd lists them; default ['ed25519'] */
  hostKeyTypes?: KeyType[];
  /** default 'prohibit-password' */
  permitRootLogin?: 'yes' | 'prohibit-password' | 'no';
  /** default false */
  passwordAuthentication?: boolean;
  /** users whose authorized_keys get the generated client key; default ['root'] */
  authorizedUsers?: string[];
  /** extra sshd_config lines */
  extraConfig?: string[];
  /** default: a free port */
  port?: number;
  /** readiness deadline; default 15 s */
  startTimeoutMs?: number;
}

export interface HostKey {
  type: KeyType;
  path: string;
  /** `<type> <base64>` (the .pub file without comment) */
  publicKey: string;
  /** SHA256:… as printed by ssh-keygen -lf */
  fingerprint: string;
}

export interface TestSshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dir: string;
  readonly hostKeys: HostKey[];
  /** fingerprint of the first host key */
  readonly hostKeyFingerprint: string;
  /** unencrypted ed25519 private key authorized for `authorizedUsers` */
  readonly clientKeyPath: string;
  readonly clientPublicKey: string;
  /** `user@127.0.0.1:port` */
  target(user?: string): string;
  /** known_hosts lines (`[127.0.0.1]:port type key`) for all host keys */
  knownHostsLines(): string[];
  /** adds a public key line to the user's authorized_keys */
  authorize(user: string, publicKeyLine: string): Promise<void>;
  logTail(n?: number): string;
  stop(): Promise<void>;
}

/**
 * Why sshd tests cannot run here, or undefined when they can. Under CI a missing sshd or a
 * non-root user is an error (CI installs openssh-server and runs as root), not a skip.
 */
export function sshdSkipReason(): string | undefined {
  let reason: string | undefined;
  if (!existsSync(SSHD_PATH)) reason = `${SSHD_PATH} not found (apt-get install openssh-server)`;
  else if (process.getuid?.() !== 0) reason = 'sshd tests need root (they start sshd and log in as root)';
  if (reason && process.env.CI) throw new Error(`CI: ${reason}`);
  return reason;
}

/** Generates a key pair with ssh-keygen; returns the private key path. */
export async function generateKey(dir: string, name: string, type: KeyType = 'ed25519', passphrase = ''): Promise<string> {
  const path = join(dir, name);
  // -N takes the passphrase as an argument: fine for throwaway test keys only
  await run('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', passphrase, '-C', `rs-test-${name}`, '-f', path], { timeoutMs: 30_000 });
  return path;
}

export async function keyFingerprint(pubPath: string): Promise<string> {
  const r = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubPath], { timeoutMs: 10_000 });
  const fp = r.stdout.split(/\s+/)[1];
  if (!fp?.startsWith('SHA256:')) throw new Error(`unexpected ssh-keygen -l output: ${r.stdout}`);
  return fp;
}

async function readPublic(path: string): Promise<string> {
  return (await readFile(`${path}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
}

/** Resolves once something on host:port sends an SSH banner; throws at the deadline. */
export async function waitForSshBanner(host: string, port: number, timeoutMs: number, abort?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    const why = abort?.();
    if (why) throw new Error(`gave up waiting for sshd on ${host}:${port}: ${why}`);
    try {
      await new Promise<void>((resolve, reject) => {
        const s = connect({ host, port });
        let buf = '';
        const timer = setTimeout(() => {
          s.destroy();
          reject(new Error('no banner within 2 s'));
        }, 2_000);
        s.on('data', (d) => {
          buf += d.toString('latin1');
          if (buf.includes('\n')) {
            clearTimeout(timer);
            s.destroy();
            if (buf.startsWith('SSH-')) resolve();
            else reject(new Error(`unexpected banner ${JSON.stringify(buf.slice(0, 80))}`));
          }
        });
        s.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        s.on('close', () => {
          clearTimeout(timer);
          reject(new Error('closed before a banner'));
        });
      });
      return;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for an SSH banner on ${host}:${port} (last: ${last})`);
    await delay(50);
  }
}

export async function startSshd(opts: SshdOptions = {}): Promise<TestSshd> {
  const reason = sshdSkipReason();
  if (reason) throw new Error(`cannot start sshd: ${reason}`);
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation directory

  const dir = await makeTempDir('rs-sshd-');
  let proc: ManagedProcess | undefined;
  try {
    // other users must reach their authorized_keys (sshd reads it with the user's privileges)
    await chmod(dir, 0o755);
    const keysDir = join(dir, 'authorized_keys');
    await mkdir(keysDir, { mode: 0o755 });
    await chmod(keysDir, 0o755);

    const hostKeys: HostKey[] = [];
    for (const type of opts.hostKeyTypes ?? ['ed25519']) {
      const path = await generateKey(dir, `ssh_host_${type}_key`, type);
      hostKeys.push({ type, path, publicKey: await readPublic(path), fingerprint: await keyFingerprint(`${path}.pub`) });
    }
    const clientKeyPath = await generateKey(dir, 'client_ed25519');
    const clientPublicKey = await readPublic(clientKeyPath);

    const authorize = async (user: string, line: string): Promise<void> => {
      const file = join(keysDir, user);
      let existing = '';
      try {
        existing = await readFile(file, 'utf8');
      } catch {
        // first key for this user
      }
      await writeFile(file, `${existing}${line.trim()}\n`, { mode: 0o644 });
      await chmod(file, 0o644);
    };
    for (const user of opts.authorizedUsers ?? ['root']) await authorize(user, clientPublicKey);

    const port = opts.port ?? (await freePort());
    const config = [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      ...hostKeys.map((k) => `HostKey ${k.path}`),
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${keysDir}/%u`,
      'StrictModes no',
      'UsePAM no',
      `PermitRootLogin ${opts.permitRootLogin ?? 'prohibit-password'}`,
      'PubkeyAuthentication yes',
      `PasswordAuthentication ${opts.passwordAuthentication ? 'yes' : 'no'}`,
      'KbdInteractiveAuthentication no',
      'AllowTcpForwarding yes',
      'PrintMotd no',
      'LogLevel VERBOSE',
      'Subsystem sftp internal-sftp',
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n');
    const configPath = join(dir, 'sshd_config');
    await writeFile(configPath, config, { mode: 0o600 });
    await run(SSHD_PATH, ['-t', '-f', configPath], { timeoutMs: 10_000 });

    const p = startProcess(SSHD_PATH, ['-D', '-e', '-f', configPath], { name: `sshd:${port}`, maxLines: 50_000 });
    proc = p;
    await waitForSshBanner('127.0.0.1', port, opts.startTimeoutMs ?? 15_000, () => (p.hasExited() ? `sshd exited\n${p.logTail()}` : undefined));

    let stopped = false;
    return {
      host: '127.0.0.1',
      port,
      dir,
      hostKeys,
      hostKeyFingerprint: hostKeys[0]!.fingerprint,
      clientKeyPath,
      clientPublicKey,
      target: (user = 'root') => `${user}@127.0.0.1:${port}`,
      knownHostsLines: () => hostKeys.map((k) => `[127.0.0.1]:${port} ${k.publicKey}`),
      authorize,
      logTail: (n = 60) => p.logTail(n),
      async stop() {
        if (stopped) return;
        stopped = true;
        await p.stop(5_000);
        await removeDir(dir);
      },
    };
  } catch (e) {
    if (proc) await proc.stop(2_000).catch(() => undefined);
    await removeDir(dir);
    throw e;
  }
}
