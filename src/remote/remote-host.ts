// A connected host: run argv commands (optionally with sudo), stream output, write and read files,
// and log every command with secrets redacted.
import type { Client } from 'ssh2';
import { runChannel, type ChannelOutcome, type ChannelSpec, type StreamName } from './channel.js';
import { CommandLog } from './command-log.js';
import { connectChain } from './connect.js';
import { RemoteCommandError, RemoteError, SudoError } from './errors.js';
import { readArgv, READ_MISSING, uploadArgv, type UploadOptions } from './files.js';
import { HostKeyVerifier, type HostKeyOptions } from './host-key.js';
import type { Interaction } from './interaction.js';
import { redact } from './quote.js';
import { SUDO_PROBE, sudoProbeFailure, timeoutArgv, TIMEOUT_KILL_AFTER_S, wrapCommand, type SudoMode } from './sudo.js';
import { describeTarget, parseJumpHosts, parseTarget, type SshTarget, type TargetOptions } from './target.js';

export interface ConnectOptions extends HostKeyOptions, TargetOptions {
  /** prompts; omit for non-interactive use (then unknown host keys and passwords are refused) */
  interaction?: Interaction;
  /** ssh-agent socket; default $SSH_AUTH_SOCK; null for none */
  agentSocket?: string | null;
  /** connect + authenticate, not counting time spent in prompts. Default 30 s */
  connectTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  /** local file to append the command log to (created 0600) */
  logFile?: string;
  /**
   * The sudo password from a non-interactive source (e.g. a file): used only when sudo asks for one,
   * tried once (the same text would be wrong again); `source` names it in messages.
   */
  sudoPassword?: SudoPasswordSource;
}

export interface SudoPasswordSource {
  password: string;
  /** how messages name where it came from, e.g. `--sudo-password-file /run/secrets/sudo` */
  source: string;
}

export interface ExecOptions {
  sudo?: boolean;
  /** a stream is piped with back-pressure, never held in memory as a whole */
  stdin?: string | Buffer | NodeJS.ReadableStream;
  timeoutMs?: number;
  /** resolve with the non-zero code instead of throwing RemoteCommandError */
  allowFailure?: boolean;
  /** replaced by *** in the log and in error messages (remembered for the whole connection) */
  secretValues?: readonly string[];
  signal?: AbortSignal;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface StreamResult {
  code: number;
  /** true when opts.signal ended the command */
  aborted: boolean;
}

export class RemoteHost {
  private sudoMode: Promise<SudoMode> | undefined;
  private closed = false;

  private constructor(
    readonly target: SshTarget,
    private readonly client: Client,
    private readonly jumps: Client[],
    private readonly interaction: Interaction,
    private readonly log: CommandLog,
    /** every secret seen on this connection; the log redacts with the same set */
    private readonly secrets: Set<string>,
    private readonly sudoPassword: SudoPasswordSource | undefined,
  ) {
    if (sudoPassword) secrets.add(sudoPassword.password);
    client.on('close', () => {
      this.closed = true;
    });
  }

  /** `user@host[:port]` */
  get label(): string {
    return describeTarget(this.target);
  }

  /** Connects (through target.proxyJump if set), verifying the host key(s) and authenticating. */
  static async connect(target: SshTarget | string, opts: ConnectOptions = {}): Promise<RemoteHost> {
    const t = typeof target === 'string' ? parseTarget(target, opts) : target;
    const secrets = new Set<string>();
    const log = new CommandLog(opts.logFile, () => [...secrets]);
    const interaction = opts.interaction ?? {};
    const agentSocket = opts.agentSocket === undefined ? process.env.SSH_AUTH_SOCK : (opts.agentSocket ?? undefined);
    const jumps = t.proxyJump ? parseJumpHosts(t.proxyJump, opts) : [];
    const verifier = new HostKeyVerifier({
      ...(opts.knownHostsPath !== undefined ? { knownHostsPath: opts.knownHostsPath } : {}),
      ...(opts.globalKnownHostsPaths !== undefined ? { globalKnownHostsPaths: opts.globalKnownHostsPaths } : {}),
      ...(interaction.confirmNewHostKey ? { confirmNewHostKey: interaction.confirmNewHostKey } : {}),
    });
    const via = jumps.length ? ` via ${jumps.map(describeTarget).join(', ')}` : '';
    log.note(describeTarget(t), `connecting${via}`);
    try {
      const { client, jumps: jumpClients } = await connectChain(t, jumps, {
        verifier,
        interaction,
        ...(agentSocket ? { agentSocket } : {}),
        ...(opts.connectTimeoutMs !== undefined ? { timeoutMs: opts.connectTimeoutMs } : {}),
        ...(opts.keepaliveIntervalMs !== undefined ? { keepaliveIntervalMs: opts.keepaliveIntervalMs } : {}),
        onEvent: (label, text) => log.note(label, text),
      });
      return new RemoteHost(t, client, jumpClients, interaction, log, secrets, opts.sudoPassword);
    } catch (e) {
      log.note(describeTarget(t), `connection failed: ${(e as Error).message}`);
      throw e;
    }
  }

  private remember(values: readonly string[] | undefined): void {
    for (const v of values ?? []) if (v) this.secrets.add(v);
  }

  private redacted(text: string): string {
    return redact(text, [...this.secrets]);
  }

  /** Runs argv (shell-quoted) and collects its output. Throws RemoteCommandError on failure. */
  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.run(argv, opts, true);
    return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
  }

  /**
   * Runs argv and hands its output to onData as it arrives (e.g. `docker logs --follow`).
   * Ending it through opts.signal resolves with aborted: true rather than throwing.
   */
  async execStream(argv: readonly string[], onData: (chunk: string, stream: StreamName) => void, opts: ExecOptions = {}): Promise<StreamResult> {
    const r = await this.run(argv, opts, false, onData);
    return { code: r.code, aborted: r.failure === 'aborted' };
  }

  /**
   * Runs argv whose stdout is binary (a backup stream): its bytes are written to `out` as they
   * arrive, with back-pressure (the channel pauses while `out` is full); its stderr as text to onStderr.
   */
  async execBytes(argv: readonly string[], out: NodeJS.WritableStream, onStderr: (text: string) => void, opts: ExecOptions = {}): Promise<StreamResult & { tail: string }> {
    const bytes = { onStdoutBytes: (chunk: Buffer) => out.write(chunk), onStdoutFull: (resume: () => void) => out.once('drain', resume) };
    const r = await this.run(argv, { ...opts, allowFailure: true }, false, (text, stream) => stream === 'stderr' && onStderr(text), undefined, bytes);
    return { code: r.code, aborted: r.failure === 'aborted', tail: this.redacted(r.tail) };
  }

  /** Writes content to remotePath atomically (see files.ts). */
  async upload(remotePath: string, content: string | Buffer, opts: UploadOptions): Promise<void> {
    const size = typeof content === 'string' ? Buffer.byteLength(content) : content.length;
    const owner = opts.owner || opts.group ? ` ${opts.owner ?? ''}:${opts.group ?? ''}` : '';
    const display = `upload ${remotePath} (${size} bytes, mode ${opts.mode.toString(8).padStart(4, '0')}${owner})`;
    await this.run(uploadArgv(remotePath, opts), { ...(opts.sudo !== undefined ? { sudo: opts.sudo } : {}), stdin: content }, true, undefined, display);
  }

  /** The file's bytes, or null when it does not exist. */
  async readFile(remotePath: string, opts: { sudo?: boolean } = {}): Promise<Buffer | null> {
    const display = `read ${remotePath}`;
    const r = await this.run(readArgv(remotePath), { ...opts, allowFailure: true }, true, undefined, display);
    if (r.code === READ_MISSING) return null;
    if (r.code !== 0) this.throwFailed(r, `${opts.sudo ? 'sudo ' : ''}${display}`);
    return r.stdout;
  }

  private throwFailed(r: ChannelOutcome, display: string): never {
    const reason =
      r.failure === 'timeout' ? 'timed out' : r.failure === 'connection' ? 'lost its connection' : r.failure === 'aborted' ? 'was aborted' : undefined;
    throw new RemoteCommandError(this.redacted(display), r.code, this.redacted(r.tail), this.label, reason);
  }

  private async run(
    argv: readonly string[],
    opts: ExecOptions,
    capture: boolean,
    onData?: (chunk: string, stream: StreamName) => void,
    /** what the log shows instead of the argv (for the upload/read helper scripts) */
    label?: string,
    bytes?: Pick<ChannelSpec, 'onStdoutBytes' | 'onStdoutFull'>,
  ): Promise<ChannelOutcome> {
    if (this.closed) throw new RemoteError(`the connection to ${this.label} is closed`);
    this.remember(opts.secretValues);
    const mode = opts.sudo ? await this.sudo() : undefined;
    const timeoutMs = opts.timeoutMs !== undefined && opts.timeoutMs > 0 ? opts.timeoutMs : undefined;
    const wrapped = wrapCommand(timeoutMs ? timeoutArgv(argv, timeoutMs) : argv, mode);
    wrapped.display = wrapCommand(argv, mode).display;
    if (label) wrapped.display = mode && mode.kind !== 'root' ? `sudo ${label}` : label;
    const stdin = opts.stdin === undefined || typeof opts.stdin !== 'string' ? opts.stdin : Buffer.from(opts.stdin, 'utf8');
    const started = Date.now();
    const r = await runChannel(this.client, {
      command: wrapped.command,
      capture,
      ...(stdin ? { stdin } : {}),
      ...(wrapped.handshake ? { sudo: wrapped.handshake } : {}),
      // the remote `timeout` acts first; the local timer is the backstop for a silent network
      ...(timeoutMs ? { timeoutMs: timeoutMs + (TIMEOUT_KILL_AFTER_S + 10) * 1000 } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(onData ? { onData } : {}),
      ...bytes,
    });
    if (timeoutMs && !r.failure && (r.code === 124 || r.code === 137) && Date.now() - started >= timeoutMs) r.failure = 'timeout';
    this.log.command(this.label, { display: wrapped.display, code: r.code, durationMs: Date.now() - started, ...(r.failure ? { failure: r.failure } : {}) });
    if (r.failure === 'sudo-password') {
      this.sudoMode = undefined; // ask again next time
      throw new SudoError(`sudo on ${this.label} refused the password`);
    }
    if (r.failure === 'aborted' && !capture) return r;
    if ((r.code !== 0 || r.failure) && !opts.allowFailure) this.throwFailed(r, wrapped.display);
    if (r.failure && r.failure !== 'aborted') this.throwFailed(r, wrapped.display);
    return r;
  }

  /** How to elevate on this host; decided once per connection (asks for the password at most once). */
  private sudo(): Promise<SudoMode> {
    this.sudoMode ??= this.resolveSudo().catch((e: unknown) => {
      this.sudoMode = undefined;
      throw e;
    });
    return this.sudoMode;
  }

  private async resolveSudo(): Promise<SudoMode> {
    if (this.target.user === 'root') return { kind: 'root' };
    const id = await this.run(['id', '-u'], { allowFailure: true }, true);
    if (id.code === 0 && id.stdout.toString().trim() === '0') return { kind: 'root' };
    const probe = await this.run(SUDO_PROBE, { allowFailure: true }, true);
    if (probe.code === 0) return { kind: 'nopasswd' };
    // the label already names the login user: `admin@10.0.0.1`
    const who = this.label;
    const why = sudoProbeFailure(probe.code, probe.stderr.toString());
    if (why === 'missing') throw new SudoError(`${this.label}: the login user ${this.target.user} is not root and sudo is not installed; log in as root or install sudo`);
    if (why === 'denied') throw new SudoError(`${who} may not use sudo: ${this.redacted(probe.stderr.toString().trim())}`);
    if (this.sudoPassword) {
      const mode = await this.tryPassword(this.sudoPassword.password, who);
      if (mode) return mode;
      throw new SudoError(`sudo on ${this.label} refused the password from ${this.sudoPassword.source}; put the right password for ${this.target.user} there`);
    }
    const ask = this.interaction.askSecret;
    if (!ask) {
      throw new SudoError(
        `sudo on ${who} needs a password and there is no terminal to ask for it: give it with --sudo-password-file FILE (- reads it from stdin), rerun interactively, or allow passwordless sudo (NOPASSWD) for ${this.target.user}`,
      );
    }
    for (let attempt = 1; attempt <= 3; attempt++) {
      const password = await ask({ kind: 'sudo', message: `[sudo] password for ${this.target.user} on ${this.target.host}:`, user: this.target.user, host: this.target.host, attempt });
      if (password === undefined) throw new SudoError(`no sudo password given for ${who}`);
      const mode = await this.tryPassword(password, who);
      if (mode) return mode;
    }
    throw new SudoError(`sudo on ${this.label} refused the password three times`);
  }

  /** `sudo true` with the password: the mode when sudo accepts it, undefined when it asks again. */
  private async tryPassword(password: string, who: string): Promise<SudoMode | undefined> {
    this.secrets.add(password);
    const mode: SudoMode = { kind: 'password', password };
    const probeCmd = wrapCommand(['true'], mode);
    const started = Date.now();
    const check = await runChannel(this.client, {
      command: probeCmd.command,
      ...(probeCmd.handshake ? { sudo: probeCmd.handshake } : {}),
      capture: true,
      timeoutMs: 60_000,
    });
    this.log.command(this.label, { display: 'sudo true', code: check.code, durationMs: Date.now() - started, ...(check.failure ? { failure: check.failure } : {}) });
    if (check.code === 0 && !check.failure) return mode;
    if (check.failure !== 'sudo-password') {
      throw new SudoError(`sudo failed for ${who}: ${this.redacted(check.tail || `exit code ${check.code}`)}`);
    }
    return undefined;
  }

  /** Closes the connection and any jump host connections. Idempotent. */
  close(): void {
    this.closed = true;
    this.client.end();
    for (const j of [...this.jumps].reverse()) j.end();
  }
}
