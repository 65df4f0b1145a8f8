// Errors raised by src/remote. Each message is meant to be shown to the user as it is: one
// sentence saying what happened and, where there is one, what to do about it. None of them ever
// contains a password, passphrase or value passed in `secretValues`.

/** Base class, so that the CLI can tell SSH trouble from its own bugs. */
export class RemoteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** TCP connect, handshake or transport failure (including a lost connection). */
export class ConnectError extends RemoteError {}

/** Every authentication method was tried and refused. */
export class AuthenticationError extends RemoteError {}

/** The server offered a host key that differs from the one(s) recorded in known_hosts. */
export class HostKeyChangedError extends RemoteError {
  constructor(
    message: string,
    readonly host: string,
    readonly fingerprint: string,
  ) {
    super(message);
  }
}

/** The host key is not recorded and was not accepted (declined, or no way to ask). */
export class HostKeyNotTrustedError extends RemoteError {
  constructor(
    message: string,
    readonly host: string,
    readonly fingerprint: string,
  ) {
    super(message);
  }
}

/** sudo could not be used: wrong password, no password available, or not allowed. */
export class SudoError extends RemoteError {}

/** A remote command exited non-zero (or was killed, or timed out). */
export class RemoteCommandError extends RemoteError {
  constructor(
    /** the command as run, secrets replaced by *** */
    readonly command: string,
    /** exit code; 128+N when killed by signal N; 124/137 after a remote timeout; -1 when there is none (connection lost, abort) */
    readonly code: number,
    /** the last lines of stdout and stderr, in arrival order, secrets replaced by *** */
    readonly outputTail: string,
    readonly host: string,
    readonly reason?: string,
  ) {
    const what = reason ?? `exited with code ${code}`;
    const tail = outputTail.trim() ? `\n${outputTail.replace(/\n+$/, '')}` : ' (no output)';
    super(`command on ${host} ${what}: ${command}${tail}`);
  }
}
