// How a command is wrapped for sudo. Pure: decides the command string; channel.ts does the talking.
//
// - login user is root (uid 0):       the command as it is
// - `sudo -n true` works (NOPASSWD):   sudo -n -- <argv>
// - sudo needs a password:             sudo -S -p <prompt> -- sh -c 'printf "%s\n" "$0"; exec "$@"' <marker> <argv>
//
// In the password case the password is written to sudo's stdin only when sudo has printed our
// random prompt on stderr, and the command's own stdin only once the wrapper printed the random
// marker on stdout (i.e. sudo has accepted and the command is starting). This deviates from
// "password as the first line of stdin, then the command's stdin": when sudo does not ask (cached
// credentials, a NOPASSWD rule for that one command) that scheme would hand the password to the
// command itself, e.g. into a file written by `tee`. A second prompt means a wrong password: we
// close the channel instead of feeding sudo more lines.
import { randomBytes } from 'node:crypto';
import { shellJoin } from './quote.js';

export type SudoMode = { kind: 'root' } | { kind: 'nopasswd' } | { kind: 'password'; password: string };

export interface SudoHandshake {
  prompt: string;
  marker: string;
  password: string;
}

export interface WrappedCommand {
  /** the command string sent to the server */
  command: string;
  /** what the log and errors show: the argv, `sudo ` in front when elevated */
  display: string;
  handshake?: SudoHandshake;
}

const WRAPPER = 'printf "%s\\n" "$0"; exec "$@"';

/** Wraps argv for the given mode (`sudo: false` callers use mode undefined). */
export function wrapCommand(argv: readonly string[], mode: SudoMode | undefined, token = randomBytes(12).toString('hex')): WrappedCommand {
  const plain = shellJoin(argv);
  if (!mode || mode.kind === 'root') return { command: plain, display: plain };
  if (mode.kind === 'nopasswd') return { command: shellJoin(['sudo', '-n', '--', ...argv]), display: `sudo ${plain}` };
  const prompt = `[sudo-password:${token}]`;
  const marker = `[sudo-ok:${token}]`;
  return {
    command: shellJoin(['sudo', '-S', '-p', prompt, '--', 'sh', '-c', WRAPPER, marker, ...argv]),
    display: `sudo ${plain}`,
    handshake: { prompt, marker, password: mode.password },
  };
}

/** Grace between the remote timeout's TERM and KILL, and extra time the local timer allows. */
export const TIMEOUT_KILL_AFTER_S = 5;

/**
 * Puts coreutils `timeout` in front of argv: the remote side kills the command (and its process
 * group) itself. Closing the channel would not, and sshd ignores SSH "signal" requests for root
 * logins (they need post-auth privilege separation). Exit 124 (TERM) or 137 (KILL) then means timeout.
 */
export function timeoutArgv(argv: readonly string[], timeoutMs: number): string[] {
  const secs = Math.max(0.001, timeoutMs / 1000).toFixed(3);
  return ['timeout', '-k', String(TIMEOUT_KILL_AFTER_S), secs, ...argv];
}

/** The probe that tells whether sudo works without a password. */
export const SUDO_PROBE = ['sudo', '-n', 'true'] as const;

/** Classifies the stderr of a failed `sudo -n true`. */
export function sudoProbeFailure(code: number, stderr: string): 'missing' | 'password' | 'denied' {
  if (code === 127 || /sudo: (command )?not found|No such file/i.test(stderr)) return 'missing';
  if (/password is required|a terminal is required/i.test(stderr)) return 'password';
  return /not in the sudoers|not allowed|may not run sudo/i.test(stderr) ? 'denied' : 'password';
}
