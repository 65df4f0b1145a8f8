// Long-running child processes for tests: output captured into a ring buffer (and optionally a
// log file), readiness by polling for a line with a deadline, and a bounded SIGTERM → SIGKILL stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** true when SIGTERM did not end the process within the grace period and SIGKILL was needed */
  killed: boolean;
}

export interface StartOptions {
  /** short label used in log lines and error messages */
  name?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** also append every output line to this file */
  logFile?: string;
  /** lines kept in memory (oldest dropped first) */
  maxLines?: number;
}

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** resolves once the process has exited (never rejects) */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /**
   * Polls the captured output until a line matches, the deadline passes, or the process exits.
   * Only lines not yet consumed by an earlier waitForLine call are considered.
   */
  waitForLine(re: RegExp, timeoutMs: number, stream?: 'stdout' | 'stderr' | 'any'): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL if still alive after graceMs; bounded in total. Idempotent. */
  stop(graceMs?: number): Promise<ExitInfo>;
  /** the last n captured lines, for assertion messages */
  logTail(n?: number): string;
}

interface Line {
  seq: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

const POLL_MS = 25;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // If a test file dies without cleaning up, never leave registries running behind it.
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export function startProcess(command: string, args: readonly string[], opts: StartOptions = {}): ManagedProcess {
  installExitHook();
  const name = opts.name ?? command;
  const maxLines = opts.maxLines ?? 2000;
  const lines: Line[] = [];
  let seq = 0;
  let consumed = 0; // sequence number up to which waitForLine has consumed lines
  let log: WriteStream | undefined;
  if (opts.logFile) log = createWriteStream(opts.logFile, { flags: 'a' });

  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);

  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      push('stderr', `[spawn error] ${err.message}`);
      if (child.pid === undefined) {
        exitInfo = { code: null, signal: null };
        live.delete(child);
        resolve(exitInfo);
      }
    });
    child.once('close', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(child);
      log?.end();
      resolve(exitInfo);
    });
  });

  function push(stream: 'stdout' | 'stderr', text: string): void {
    seq += 1;
    lines.push({ seq, stream, text });
    if (lines.length > maxLines) lines.splice(0, lines.length - maxLines);
    log?.write(`${stream === 'stderr' ? 'E' : 'O'} ${text}\n`);
  }

  for (const stream of ['stdout', 'stderr'] as const) {
    let partial = '';
    const source = child[stream]!;
    source.setEncoding('utf8');
    source.on('data', (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        push(stream, partial.slice(0, nl).replace(/\r$/, ''));
        partial = partial.slice(nl + 1);
      }
    });
    source.on('end', () => {
      if (partial) push(stream, partial);
      partial = '';
    });
  }

  function logTail(n = 60): string {
    const tail = lines.slice(-n).map((l) => `${l.stream === 'stderr' ? '!' : ' '} ${l.text}`);
    const status = exitInfo ? ` (exited: code=${exitInfo.code} signal=${exitInfo.signal})` : '';
    return `--- last ${tail.length} lines of ${name}${status} ---\n${tail.join('\n')}\n--- end of ${name} ---`;
  }

  async function waitForLine(re: RegExp, timeoutMs: number, stream: 'stdout' | 'stderr' | 'any' = 'stdout'): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of lines) {
        if (line.seq <= consumed) continue;
        if (stream !== 'any' && line.stream !== stream) continue;
        const m = line.text.match(re);
        if (m) {
          consumed = line.seq;
          return m;
        }
      }
      if (exitInfo || spawnError) {
        throw new Error(`${name} exited before printing a line matching ${re}${spawnError ? `: ${spawnError.message}` : ''}\n${logTail()}`);
      }
      if (Date.now() >= deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${name} to print a line matching ${re}\n${logTail()}`);
      }
      await delay(POLL_MS);
    }
  }

  async function waitExit(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!exitInfo && Date.now() < deadline) await delay(POLL_MS);
    return exitInfo !== undefined;
  }

  let stopping: Promise<ExitInfo> | undefined;
  function stop(graceMs = 10_000): Promise<ExitInfo> {
    stopping ??= (async () => {
      let killed = false;
      if (!exitInfo) {
        child.kill('SIGTERM');
        if (!(await waitExit(graceMs))) {
          killed = true;
          child.kill('SIGKILL');
          if (!(await waitExit(5_000))) {
            throw new Error(`${name} (pid ${child.pid}) survived SIGKILL for 5 s\n${logTail()}`);
          }
        }
      }
      return { ...exitInfo!, killed };
    })();
    return stopping;
  }

  return {
    name,
    child,
    pid: child.pid ?? -1,
    exited,
    hasExited: () => exitInfo !== undefined,
    waitForLine,
    stop,
    logTail,
  };
}
