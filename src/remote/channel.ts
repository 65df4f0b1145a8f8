// One command on one SSH session channel: stdin, output capture (whole, or only a tail when
// streaming), timeout/abort with a KILL signal to the remote process, and the sudo password
// hand-shake (see sudo.ts): the password is written to sudo's stdin only after sudo printed our
// prompt, and the command's own stdin only after the command has started.
import { StringDecoder } from 'node:string_decoder';
import type { Client, ClientChannel } from 'ssh2';
import type { SudoHandshake } from './sudo.js';

export type StreamName = 'stdout' | 'stderr';

export interface ChannelSpec {
  command: string;
  /** a Buffer is written at once; a stream is piped with back-pressure (e.g. `docker save` output) */
  stdin?: Buffer | NodeJS.ReadableStream;
  sudo?: SudoHandshake;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** receives output as it arrives (already without sudo's prompt and marker) */
  onData?: (chunk: string, stream: StreamName) => void;
  /**
   * receives stdout as bytes, undecoded (a binary stream); stdout then goes to neither onData nor
   * the tail. Returning `false` pauses the channel (the remote command blocks on a full SSH window)
   * until the function handed to `onStdoutFull` is called: back-pressure for a slow consumer.
   */
  onStdoutBytes?: (chunk: Buffer) => boolean | void;
  onStdoutFull?: (resume: () => void) => void;
  /** keep the whole stdout/stderr (true for exec, false for streaming) */
  capture: boolean;
}

export interface ChannelOutcome {
  /** exit status; 128+N for signal N; -1 when there was none (timeout, abort, lost connection) */
  code: number;
  exitSignal?: string;
  stdout: Buffer;
  stderr: Buffer;
  /** last lines of stdout+stderr in arrival order */
  tail: string;
  failure?: 'timeout' | 'aborted' | 'connection' | 'sudo-password';
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };
const TAIL_CHARS = 16_384;

/** Last `n` lines of text. */
export function lastLines(text: string, n: number): string {
  const lines = text.replace(/\n+$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

function killRemote(stream: ClientChannel): void {
  try {
    if (stream.writable) {
      stream.signal('KILL');
      return;
    }
    // ssh2 refuses signal() once stdin was ended; the protocol allows it (OpenSSH >= 7.8 obeys it)
    const s = stream as unknown as { outgoing?: { id: number; state: string }; _client?: { _protocol?: { signal(id: number, sig: string): void } } };
    if (s.outgoing && (s.outgoing.state === 'open' || s.outgoing.state === 'eof')) s._client?._protocol?.signal(s.outgoing.id, 'KILL');
  } catch {
    // best effort: the channel is closed next anyway
  }
}

export function runChannel(client: Client, spec: ChannelSpec): Promise<ChannelOutcome> {
  return new Promise((resolve) => {
    if (spec.signal?.aborted) {
      resolve({ code: -1, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), tail: '', failure: 'aborted' });
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let tail = '';
    let code: number | undefined;
    let exitSignal: string | undefined;
    let failure: ChannelOutcome['failure'];
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let stream: ClientChannel | undefined;
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };

    const emit = (buf: Buffer, name: StreamName): void => {
      if (buf.length === 0) return;
      if (name === 'stdout' && spec.onStdoutBytes) {
        if (spec.onStdoutBytes(buf) === false && stream && spec.onStdoutFull) {
          const paused = stream;
          paused.pause();
          spec.onStdoutFull(() => paused.resume());
        }
        return;
      }
      if (spec.capture) (name === 'stdout' ? out : err).push(buf);
      const text = decoders[name].write(buf);
      tail = (tail + text).slice(-TAIL_CHARS);
      if (text) spec.onData?.(text, name);
    };

    const finish = (): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      spec.signal?.removeEventListener('abort', onAbort);
      const c = code ?? (exitSignal ? 128 + (SIGNALS[exitSignal] ?? 0) : -1);
      resolve({
        code: failure && failure !== 'sudo-password' ? -1 : c,
        ...(exitSignal ? { exitSignal } : {}),
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err),
        tail: lastLines(tail, 20),
        ...(failure ? { failure } : {}),
      });
    };

    const stop = (why: NonNullable<ChannelOutcome['failure']>): void => {
      if (settled || failure) return;
      failure = why;
      if (stream) {
        killRemote(stream);
        stream.close();
      }
      // if the server never confirms the close, do not hang
      setTimeout(finish, 5_000).unref();
    };
    function onAbort(): void {
      stop('aborted');
    }
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    if (spec.timeoutMs !== undefined && spec.timeoutMs > 0) timer = setTimeout(() => stop('timeout'), spec.timeoutMs);

    const onChannel = (e: Error | undefined, ch: ClientChannel): void => {
      if (e) {
        failure ??= 'connection';
        tail = `cannot start the command: ${e.message}`;
        finish();
        return;
      }
      stream = ch;
      if (failure) {
        // aborted or timed out while the channel was opening
        ch.close();
        finish();
        return;
      }
      const sudo = spec.sudo;
      let started = !sudo; // the command runs (sudo accepted us)
      let prompts = 0;
      let errPending = ''; // stderr text not yet searched for sudo's prompt
      let outPending = Buffer.alloc(0); // stdout before sudo's marker line

      const sendStdin = (): void => {
        const input = spec.stdin;
        if (input && !Buffer.isBuffer(input)) input.pipe(ch);
        else ch.end(input ?? Buffer.alloc(0));
      };
      const startCommand = (): void => {
        started = true;
        if (errPending) emit(Buffer.from(errPending), 'stderr');
        errPending = '';
        sendStdin();
      };

      if (!sudo) sendStdin();

      ch.on('data', (buf: Buffer) => {
        if (started || !sudo) return emit(buf, 'stdout');
        outPending = Buffer.concat([outPending, buf]);
        // lines before the marker (a chatty shell rc file) are output; stdin waits for the marker
        let nl: number;
        while ((nl = outPending.indexOf(0x0a)) >= 0) {
          const line = outPending.subarray(0, nl + 1);
          outPending = outPending.subarray(nl + 1);
          if (line.toString('utf8') === `${sudo.marker}\n`) {
            const rest = outPending;
            outPending = Buffer.alloc(0);
            startCommand();
            emit(rest, 'stdout');
            return;
          }
          emit(line, 'stdout');
        }
      });
      ch.stderr.on('data', (buf: Buffer) => {
        if (started || !sudo) return emit(buf, 'stderr');
        errPending += buf.toString('utf8');
        let at: number;
        while ((at = errPending.indexOf(sudo.prompt)) >= 0) {
          const before = errPending.slice(0, at);
          errPending = errPending.slice(at + sudo.prompt.length);
          if (before) emit(Buffer.from(before), 'stderr');
          prompts += 1;
          if (prompts === 1) {
            ch.write(`${sudo.password}\n`);
          } else {
            // sudo asks again: the password was wrong. Do not feed it anything else.
            failure = 'sudo-password';
            ch.close();
            return;
          }
        }
        // keep a possible partial prompt at the end for the next chunk; show the rest
        const keep = Math.min(errPending.length, sudo.prompt.length - 1);
        const show = errPending.slice(0, errPending.length - keep);
        errPending = errPending.slice(errPending.length - keep);
        if (show) emit(Buffer.from(show), 'stderr');
      });
      ch.on('exit', (c: number | null, sig?: string) => {
        if (typeof c === 'number') code = c;
        else if (sig) exitSignal = sig;
      });
      ch.on('close', () => {
        if (!started) {
          if (outPending.length) emit(outPending, 'stdout');
          if (errPending) emit(Buffer.from(errPending), 'stderr');
        }
        for (const name of ['stdout', 'stderr'] as const) {
          const rest = decoders[name].end();
          if (rest) {
            tail = (tail + rest).slice(-TAIL_CHARS);
            spec.onData?.(rest, name);
          }
        }
        if (code === undefined && exitSignal === undefined && !failure) failure = 'connection';
        finish();
      });
    };
    try {
      client.exec(spec.command, onChannel);
    } catch (e) {
      // ssh2 throws synchronously when the connection is already gone
      onChannel(e as Error, undefined as unknown as ClientChannel);
    }
  });
}
