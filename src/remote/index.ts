// src/remote — the only code that speaks SSH. Public API:
//
//   parseTarget(target, {identity?, sshConfigPath?, homeDir?, proxyJump?}) → SshTarget
//       `[user@]host[:port]`, `[v6]:port`, `ssh://…`, or a ~/.ssh/config alias (HostName, User, Port,
//       IdentityFile, ProxyJump, HostKeyAlias). Default user: the local user name, like ssh.
//   RemoteHost.connect(target | string, ConnectOptions) → RemoteHost
//       ConnectOptions: interaction (confirmNewHostKey, askSecret), knownHostsPath, agentSocket,
//       logFile, connectTimeoutMs, sudoPassword ({password, source}: a non-interactive sudo password,
//       used only when sudo asks, tried once), plus the parseTarget options (used for jump hosts too).
//       Host keys: known → ok; recorded but different → HostKeyChangedError (always); unknown →
//       interaction.confirmNewHostKey, appended to known_hosts when accepted.
//       Auth order: ssh-agent, identity files (passphrase via askSecret), keyboard-interactive,
//       password (the last three only when askSecret is given).
//   host.exec(argv, {sudo?, stdin?, timeoutMs?, allowFailure?, secretValues?, signal?}) → {code, stdout, stderr}
//       stdin: a string, a Buffer, or a readable stream (piped with back-pressure, e.g. `docker save`)
//       throws RemoteCommandError (redacted command, code, last 20 lines) unless allowFailure.
//   host.execStream(argv, onData(chunk, 'stdout'|'stderr'), opts) → {code, aborted}
//   host.upload(path, content, {mode, owner?, group?, sudo?})   atomic: temp file in the same dir + mv
//   host.readFile(path, {sudo?}) → Buffer | null
//   host.close()
//   terminalInteraction({assumeYes?, interactive?}) → Interaction for the CLI (@inquirer prompts).
//
// Deviations from the first sketch, and why:
//   - knownHostsPath is a connect option, not a parseTarget option (it is not part of the target).
//   - upload streams the content on stdin into a mktemp file next to the destination instead of
//     SFTP to /tmp + install: atomic, no SFTP subsystem needed, no secret left in /tmp (files.ts).
//   - sudo with a password hands the password over only when sudo prompts (random prompt string),
//     and the command's stdin only after a random "started" marker: never to the command (sudo.ts).
//   - unknown host keys are refused when no confirmNewHostKey callback is given.
//   - timeoutMs puts coreutils `timeout` in front of the command: sshd ignores SSH signal requests
//     for root logins and closing the channel does not stop the process (sudo.ts).
//
// Secrets: passwords and passphrases only travel inside the SSH protocol or on sudo's stdin.
// Values in an argv are visible to other users of the host in `ps`: give secrets to commands on
// stdin or write them with upload(); `secretValues` only keeps them out of our log and errors.
export { AuthenticationError, ConnectError, HostKeyChangedError, HostKeyNotTrustedError, RemoteCommandError, RemoteError, SudoError } from './errors.js';
export type { UploadOptions } from './files.js';
export { DEFAULT_KNOWN_HOSTS, type ConfirmNewHostKey } from './host-key.js';
export type { AskSecret, Interaction, SecretRequest } from './interaction.js';
export { fingerprint, knownHostsName } from './known-hosts.js';
export { keyscanCommand, refuseUnknownHostKeys, terminalInteraction, type TerminalInteractionOptions } from './prompts.js';
export { redact, shellJoin, shellQuote } from './quote.js';
export { RemoteHost, type ConnectOptions, type ExecOptions, type ExecResult, type StreamResult, type SudoPasswordSource } from './remote-host.js';
export type { StreamName } from './channel.js';
export { describeTarget, parseTarget, type SshTarget, type TargetOptions } from './target.js';
