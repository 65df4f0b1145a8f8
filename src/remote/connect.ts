// Opening authenticated ssh2 connections: one hop (TCP or a given stream), host key check, auth
// order, and a connect timeout that does not count the time a person spends answering prompts.
// A ProxyJump chain is opened hop by hop, each next hop through `forwardOut()` of the previous.
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { Client, ClientChannel, HostVerifier } from 'ssh2';
import { planAuth } from './auth.js';
import { AuthenticationError, ConnectError, HostKeyChangedError, HostKeyNotTrustedError } from './errors.js';
import type { HostKeyEvent, HostKeyVerifier } from './host-key.js';
import type { Interaction } from './interaction.js';
import { describeTarget, type SshTarget } from './target.js';

export interface HopOptions {
  verifier: HostKeyVerifier;
  interaction: Interaction;
  agentSocket?: string;
  /** TCP connect + handshake + authentication, not counting prompts. Default 30 s */
  timeoutMs?: number;
  /** SSH keepalive interval. Default 15 s (4 missed → the connection is dropped) */
  keepaliveIntervalMs?: number;
  onEvent?: (label: string, text: string) => void;
}

/** A timeout that stops while `pause(fn)` waits for a person, and starts afresh afterwards. */
class PromptAwareTimer {
  private timer: NodeJS.Timeout | undefined;
  private depth = 0;
  private done = false;

  constructor(
    private readonly ms: number,
    private readonly onTimeout: () => void,
  ) {
    this.arm();
  }

  private arm(): void {
    if (this.done || this.depth > 0) return;
    this.timer = setTimeout(this.onTimeout, this.ms);
  }

  readonly pause = async <T>(fn: () => Promise<T>): Promise<T> => {
    this.depth += 1;
    clearTimeout(this.timer);
    try {
      return await fn();
    } finally {
      this.depth -= 1;
      this.arm();
    }
  };

  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
  }
}

function isHostKeyError(e: unknown): e is HostKeyChangedError | HostKeyNotTrustedError {
  return e instanceof HostKeyChangedError || e instanceof HostKeyNotTrustedError;
}

/** Connects and authenticates to one host, directly or over `sock`. */
export async function connectHop(target: SshTarget, opts: HopOptions, sock?: Duplex): Promise<Client> {
  const label = describeTarget(target);
  const algorithms = await opts.verifier.algorithmsFor(target);
  const client = new ssh2.Client();

  return new Promise<Client>((resolve, reject) => {
    let settled = false;
    let phase: 'connecting' | 'handshake' | 'authenticating' = 'connecting';
    let verifyError: Error | undefined;
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      timer.stop();
      client.removeAllListeners('ready');
      client.on('error', () => {}); // late errors of a connection we gave up on
      client.end();
      sock?.destroy();
      reject(e);
    };
    const timer = new PromptAwareTimer(opts.timeoutMs ?? 30_000, () =>
      fail(new ConnectError(`timed out after ${Math.round((opts.timeoutMs ?? 30_000) / 1000)} s ${phase === 'authenticating' ? 'authenticating to' : 'connecting to'} ${label}`)),
    );
    const auth = planAuth({
      user: target.user,
      label,
      host: target.host,
      identityFiles: target.identityFiles,
      ...(opts.agentSocket ? { agentSocket: opts.agentSocket } : {}),
      ...(opts.interaction.askSecret ? { askSecret: opts.interaction.askSecret } : {}),
      pause: timer.pause,
    });

    const hostVerifier: HostVerifier = (key, verify) => {
      timer
        .pause(() => opts.verifier.verify(target, key))
        .then((ev: HostKeyEvent) => {
          opts.onEvent?.(label, ev.kind === 'accepted' ? `host key ${ev.keyType} ${ev.fingerprint} accepted and added to known_hosts as ${ev.name}` : `host key ${ev.keyType} ${ev.fingerprint} matches known_hosts`);
          phase = 'authenticating';
          verify(true);
        })
        .catch((e: unknown) => {
          verifyError = e instanceof Error ? e : new ConnectError(String(e));
          verify(false);
          fail(verifyError);
        });
    };

    client.on('handshake', () => {
      phase = 'authenticating';
    });
    client.on('ready', () => {
      if (settled) return;
      settled = true;
      timer.stop();
      client.removeAllListeners('error');
      // after this, errors show up as failed commands; never let one crash the process
      client.on('error', (e: Error) => opts.onEvent?.(label, `connection error: ${e.message}`));
      opts.onEvent?.(label, 'connected');
      resolve(client);
    });
    client.on('error', (e: Error & { level?: string }) => {
      if (verifyError) return fail(verifyError);
      if (isHostKeyError(e)) return fail(e);
      if (e.level === 'agent') {
        opts.onEvent?.(label, `ssh-agent: ${e.message}`);
        return; // ssh2 moves on to the next method
      }
      if (e.level === 'client-authentication') {
        if (/All configured authentication methods failed/.test(e.message)) return fail(auth.promptError() ?? new AuthenticationError(auth.failureMessage()));
        opts.onEvent?.(label, `authentication: ${e.message}`);
        return;
      }
      if (e.level === 'client-socket') return fail(new ConnectError(`cannot connect to ${label}: ${e.message}`, { cause: e }));
      if (phase === 'authenticating') {
        return fail(new AuthenticationError(`${auth.failureMessage()} The server said: ${e.message}`, { cause: e }));
      }
      return fail(new ConnectError(`SSH connection to ${label} failed: ${e.message}`, { cause: e }));
    });
    client.on('close', () => {
      if (verifyError) return fail(verifyError);
      fail(new ConnectError(`${label} closed the connection${phase === 'authenticating' ? ' during authentication' : ''}`));
    });

    try {
      client.connect({
        ...(sock ? { sock } : { host: target.host, port: target.port }),
        username: target.user,
        readyTimeout: 0, // our PromptAwareTimer instead: prompts must not count
        keepaliveInterval: opts.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: 4,
        hostVerifier,
        authHandler: auth.handler,
        algorithms: { serverHostKey: algorithms },
      });
    } catch (e) {
      fail(new ConnectError(`cannot connect to ${label}: ${(e as Error).message}`, { cause: e }));
    }
  });
}

/** Opens a TCP stream from `via` to host:port (ssh -W / ProxyJump). */
export function forwardTo(via: Client, viaLabel: string, host: string, port: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    via.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
      if (err) reject(new ConnectError(`jump host ${viaLabel} could not open a connection to ${host}:${port}: ${err.message}`, { cause: err }));
      else resolve(stream);
    });
  });
}

/**
 * Connects to `target` through the given jump hosts (in order). Returns the target's client and
 * the jump clients (close them after the target's). Closes whatever was opened on failure.
 */
export async function connectChain(target: SshTarget, jumps: readonly SshTarget[], opts: HopOptions): Promise<{ client: Client; jumps: Client[] }> {
  const opened: Client[] = [];
  try {
    let sock: Duplex | undefined;
    let prev: { client: Client; target: SshTarget } | undefined;
    for (const hop of [...jumps, target]) {
      if (prev) sock = await forwardTo(prev.client, describeTarget(prev.target), hop.host, hop.port);
      const client = await connectHop(hop, opts, sock);
      opened.push(client);
      prev = { client, target: hop };
    }
    const client = opened.pop()!;
    return { client, jumps: opened };
  } catch (e) {
    for (const c of opened.reverse()) c.end();
    throw e;
  }
}
