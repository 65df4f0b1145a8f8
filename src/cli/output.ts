import chalk from 'chalk';
import { Spinner } from './spinner.js';

export interface OutputOptions {
  json?: boolean;
  /** Where human output goes; stderr keeps stdout clean for `--json` and pipes. */
  stream?: NodeJS.WriteStream;
}

export type StepStatus = 'done' | 'unchanged' | 'skipped' | 'failed' | 'planned';

/**
 * Progress for humans (a spinner per step with its duration) or for scripts (`--json`: one JSON
 * event per line on stdout). NO_COLOR and non-TTY output are handled by chalk and the spinner.
 */
export class Output {
  readonly json: boolean;
  private readonly stream: NodeJS.WriteStream;

  constructor(options: OutputOptions = {}) {
    this.json = Boolean(options.json);
    this.stream = options.stream ?? process.stderr;
    if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') chalk.level = 0;
  }

  event(type: string, data: Record<string, unknown> = {}): void {
    if (this.json) process.stdout.write(`${JSON.stringify({ type, time: new Date().toISOString(), ...data })}\n`);
  }

  info(message: string, data: Record<string, unknown> = {}): void {
    if (this.json) this.event('info', { message, ...data });
    else this.stream.write(`${message}\n`);
  }

  warn(message: string): void {
    if (this.json) this.event('warning', { message });
    else this.stream.write(`${chalk.yellow('!')} ${message}\n`);
  }

  /** Runs one named step; its function returns how it ended (and an optional detail line). */
  async step<T extends { status: StepStatus; detail?: string }>(
    id: string,
    name: string,
    run: () => Promise<T>,
    opts: { mayPrompt?: boolean } = {},
  ): Promise<T> {
    const started = Date.now();
    this.event('step-start', { id, name });
    // A spinner redraws over prompts and fights them for the terminal: steps that may ask get a plain line.
    if (!this.json && opts.mayPrompt) this.stream.write(`${chalk.cyan('…')} ${name}\n`);
    const spinner = this.json || opts.mayPrompt ? undefined : new Spinner(this.stream, name).start();
    try {
      const result = await run();
      const ms = Date.now() - started;
      this.event('step-end', { id, name, status: result.status, detail: result.detail, ms });
      if (!this.json) {
        const text = `${name} ${chalk.dim(`(${result.status}${result.detail ? `: ${result.detail}` : ''}, ${formatMs(ms)})`)}`;
        const done = spinner ?? new Spinner(this.stream, name);
        done.stop(result.status === 'unchanged' || result.status === 'skipped' ? 'info' : 'ok', text);
      }
      return result;
    } catch (err) {
      const ms = Date.now() - started;
      this.event('step-end', { id, name, status: 'failed', error: (err as Error).message, ms });
      if (!this.json) (spinner ?? new Spinner(this.stream, name)).stop('fail', `${name} ${chalk.dim(`(failed after ${formatMs(ms)})`)}`);
      throw new StepError(name, err as Error);
    }
  }
}

export class StepError extends Error {
  constructor(
    readonly step: string,
    override readonly cause: Error,
  ) {
    super(`step "${step}" failed: ${cause.message}`);
  }
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
