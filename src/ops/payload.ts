// The laptop commands that run registry code (`serve`, local `gc --data`) run the payload bundle
// (dist/registry/registry.mjs) in a child process with this same node, rather than importing it:
// the payload inlines its storage drivers (the S3 SDK among them), so the CLI package needs none of
// them at run time. The child shares the terminal (stdio passed through), gets SIGINT/SIGTERM
// forwarded, and hands back why it failed over an IPC channel (src/registry/parent-channel.ts);
// secrets reach it by file, stdin or environment, never by argument.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import type { PayloadFailureMessage } from '../registry/parent-channel.js';
import { packageRoot } from '../version.js';
import { OpsError } from './errors.js';

/** dist/registry/registry.mjs of this package (run from the bundle or, in tests, from the sources). */
export function payloadBundle(): string {
  const file = path.join(packageRoot(), 'dist', 'registry', 'registry.mjs');
  if (!existsSync(file)) throw new OpsError(`${file} is missing: run \`npm run build\` in the registry-setup package`);
  return file;
}

/** The child reported a failure: its one line (and its stack, for REGISTRY_SETUP_DEBUG). */
export class PayloadFailure extends Error {
  constructor(message: string, childStack?: string) {
    super(message);
    if (childStack) this.stack = childStack;
  }
}

export interface PayloadRun {
  /** the exit code; a child ended by a signal gives 128 + the signal's number, as a shell does */
  code: number;
  /** stdout, when captured */
  stdout: string;
}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Runs `node registry.mjs <args>`. stdin and stderr are the CLI's; stdout too unless captured (a
 * --json run turns the payload's report into the CLI's result line). Throws PayloadFailure when the
 * child says it failed.
 */
export function runPayload(args: readonly string[], opts: { captureStdout?: boolean } = {}): Promise<PayloadRun> {
  const bundle = payloadBundle();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ...args], { stdio: ['inherit', opts.captureStdout ? 'pipe' : 'inherit', 'inherit', 'ipc'] });
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    let failure: PayloadFailureMessage | undefined;
    child.on('message', (m: PayloadFailureMessage) => {
      if (m?.type === 'registry-setup.payload-failure') failure = m;
    });
    // A Ctrl-C in a terminal reaches both processes; `kill` sends it too, to the CLI only. Either
    // way the CLI stays until the child has shut down, and ends the way the child ended.
    const forward = (signal: NodeJS.Signals) => {
      child.kill(signal);
    };
    for (const s of FORWARDED_SIGNALS) process.on(s, forward);
    const done = () => {
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
    };
    child.on('error', (err) => {
      done();
      reject(err);
    });
    // 'close', not 'exit': captured stdout is complete only once the pipe has closed
    child.on('close', (code, signal) => {
      done();
      if (failure) reject(new PayloadFailure(failure.message, failure.stack));
      else resolve({ code: code ?? 128 + (signal ? constants.signals[signal] : 0), stdout });
    });
  });
}
