// Run a short-lived command with a timeout; failures carry the command, exit status and stderr.
import { spawn } from 'node:child_process';

export interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** written to the child's stdin, which is then closed (stdin is empty otherwise) */
  input?: string | Buffer;
  /** strings replaced by *** in error messages (passwords) */
  redact?: readonly string[];
  /** resolve instead of throwing on a non-zero exit */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

function redactAll(text: string, secrets: readonly string[] | undefined): string {
  let out = text;
  for (const s of secrets ?? []) if (s) out = out.split(s).join('***');
  return out;
}

export function run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const shown = redactAll([command, ...args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' '), opts.redact);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${shown}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      const result: RunResult = { code, signal, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: Buffer.concat(err).toString('utf8') };
      if (timedOut) {
        reject(new CommandError(`timed out after ${timeoutMs} ms: ${shown}\nstderr:\n${redactAll(result.stderr, opts.redact)}`, result));
      } else if (code !== 0 && !opts.allowFailure) {
        reject(
          new CommandError(
            `command failed (code=${code} signal=${signal}): ${shown}\nstderr:\n${redactAll(result.stderr, opts.redact).trimEnd()}\nstdout:\n${redactAll(result.stdout, opts.redact).trimEnd().slice(-4000)}`,
            result,
          ),
        );
      } else {
        resolve(result);
      }
    });
    child.stdin.on('error', () => {
      // the child may exit without reading its stdin
    });
    child.stdin.end(opts.input ?? '');
  });
}
