// Drives a program through a pseudo-terminal (util-linux `script`, always on Debian/Ubuntu), so
// that code which asks questions only on a TTY can be tested with typed answers.
import { spawn, type ChildProcess } from 'node:child_process';
import { shellJoin } from '../../src/remote/index.js';

export interface PtySession {
  /** waits until the screen output (ANSI codes stripped) matches, with a deadline */
  expect(re: RegExp, timeoutMs?: number): Promise<void>;
  send(keys: string): void;
  exited: Promise<number | null>;
  output(): string;
  kill(): void;
}

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r/g;

export function startPty(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): PtySession {
  const child: ChildProcess = spawn('script', ['-qfec', shellJoin(argv), '/dev/null'], {
    cwd: opts.cwd,
    env: { ...process.env, TERM: 'xterm', COLUMNS: '120', LINES: '40', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true, // own process group, so kill() also ends the program inside the terminal
  });
  let raw = '';
  let consumed = 0;
  child.stdout!.on('data', (d: Buffer) => (raw += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (raw += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const clean = () => raw.replace(ANSI, '');
  return {
    async expect(re, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = clean();
        const m = re.exec(text.slice(consumed));
        if (m) {
          consumed += m.index + m[0].length;
          return;
        }
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`expected ${re} on the terminal; last output:\n${text.slice(-2000)}`);
        }
        await new Promise((r) => setTimeout(r, 30));
      }
    },
    send(keys) {
      child.stdin!.write(keys);
    },
    exited,
    output: clean,
    kill: () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}
