import chalk from 'chalk';
import { Spinner } from './spinner.js';

export interface OutputOptions {
  json?: boolean;
  /** Where human output goes; stderr keeps stdout clean for `--json` and pipes. */
  stream?: NodeJS.WriteStream;
  /** One host of several: its lines start with `[host]`, its JSON events carry `host`, no spinner. */
  host?: string;
}

export type StepStatus = 'done' | 'unchanged' | 'skipped' | 'failed' | 'planned';

/**
 * Progress for humans (a spinner per step with its duration) or for scripts (`--json`: one JSON
 * event per line on stdout). NO_COLOR and non-TTY output are handled by chalk and the spinner.
 */
export class Output {
  readonly json: boolean;
  readonly host: string | undefined;
  private readonly stream: NodeJS.WriteStream;
  private readonly prefix: string;

  constructor(private readonly options: OutputOptions = {}) {
    this.json = Boolean(options.json);
    this.stream = options.stream ?? process.stderr;
    this.host = options.host;
    this.prefix = options.host === undefined ? '' : `[${options.host}] `;
  }

  /** The output of one host among several (steps run side by side: plain lines, no spinner). */
  forHost(host: string): Output {
    const Kind = this.constructor as new (o: OutputOptions) => Output;
    return new Kind({ ...this.options, host });
  }

  event(type: string, data: Record<string, unknown> = {}): void {
    if (this.json) process.stdout.write(`${JSON.stringify({ type, time: new Date().toISOString(), ...(this.host === undefined ? {} : { host: this.host }), ...data })}\n`);
  }

  info(message: string, data: Record<string, unknown> = {}): void {
    if (this.json) this.event('info', { message, ...data });
    else this.stream.write(`${this.prefix}${message}\n`);
  }

  warn(message: string): void {
    if (this.json) this.event('warning', { message });
    else this.stream.write(`${chalk.yellow('!')} ${this.prefix}${message}\n`);
  }

  /**
   * Runs one named step; its function returns how it ended (and an optional detail line). It may
   * report progress (e.g. bytes sent): the spinner shows the latest, `--json` gets a `progress`
   * event at most once a second.
   */
  async step<T extends { status: StepStatus; detail?: string }>(
    id: string,
    name: string,
    run: (progress: (text: string) => void) => Promise<T>,
    opts: { mayPrompt?: boolean } = {},
  ): Promise<T> {
    const started = Date.now();
    this.event('step-start', { id, name });
    const shown = `${this.prefix}${name}`;
    // A spinner redraws over prompts and fights them for the terminal: steps that may ask get a plain
    // line; so do the steps of several hosts running side by side (each gets its end line).
    if (!this.json && opts.mayPrompt) this.stream.write(`${chalk.cyan('…')} ${shown}\n`);
    const spinner = this.json || opts.mayPrompt || this.host !== undefined ? undefined : new Spinner(this.stream, shown).start();
    let lastProgress = 0;
    const progress = (text: string): void => {
      spinner?.update(`${shown} ${chalk.dim(text)}`);
      if (this.json && Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = Date.now();
        this.event('progress', { id, name, message: text });
      }
    };
    try {
      const result = await run(progress);
      const ms = Date.now() - started;
      this.event('step-end', { id, name, status: result.status, detail: result.detail, ms });
      if (!this.json) {
        const text = `${shown} ${chalk.dim(`(${result.status}${result.detail ? `: ${result.detail}` : ''}, ${formatMs(ms)})`)}`;
        const done = spinner ?? new Spinner(this.stream, shown);
        done.stop(result.status === 'unchanged' || result.status === 'skipped' ? 'info' : 'ok', text);
      }
      return result;
    } catch (err) {
      const ms = Date.now() - started;
      this.event('step-end', { id, name, status: 'failed', error: (err as Error).message, ms });
      if (!this.json) (spinner ?? new Spinner(this.stream, shown)).stop('fail', `${shown} ${chalk.dim(`(failed after ${formatMs(ms)})`)}`);
      throw new StepError(name, err as Error);
    }
  }
}

const PROGRESS_EVERY_MS = 1000;

export class StepError extends Error {
  constructor(
    readonly step: string,
    override readonly cause: Error,
  ) {
    super(`step "${step}" failed: ${cause.message}`);
  }
}

/** One line for an error: a failed step says which. */
export function describeFailure(err: unknown): string {
  if (err instanceof StepError) return `${err.step}: ${err.cause.message}`;
  return (err as Error).message ?? String(err);
}

/** Some hosts of several failed: one line each, and the hints of all (e.g. their command logs). */
export class HostsFailed extends Error {
  readonly hint?: string;
  constructor(
    readonly failures: { host: string; error: unknown }[],
    total: number,
  ) {
    const lines = failures.map((f) => `${f.host}: ${describeFailure(f.error)}`);
    super(failures.length === 1 ? lines[0]! : `${failures.length} of ${total} hosts failed:\n  ${lines.join('\n  ')}`);
    const hints = [...new Set(failures.map((f) => (f.error as { hint?: string }).hint).filter((h): h is string => Boolean(h)))];
    if (hints.length) this.hint = hints.join('\n');
  }
}

/**
 * Runs fn for every host side by side and waits for all of them (a failure does not cut the others
 * short). One host: its error as it is; several: HostsFailed naming each failed host.
 */
export async function eachHost<T, R>(items: readonly T[], host: (item: T) => string, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const settled = await Promise.allSettled(items.map((item, i) => fn(item, i)));
  const failures = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ host: host(items[i]!), error: r.reason as unknown }] : []));
  if (failures.length === 0) return settled.map((r) => (r as PromiseFulfilledResult<R>).value);
  if (items.length === 1) throw failures[0]!.error;
  throw new HostsFailed(failures, items.length);
}

/**
 * `--json`: a command's outcome, the last line it prints (progress events come before it; a failure
 * ends with an `error` line instead). One host: its result; several: one result with a `hosts` list,
 * each entry naming its host.
 */
export function printResult(output: Output, results: readonly { host: string; result: Record<string, unknown> }[], several: boolean): void {
  if (!output.json) return;
  output.event('result', several ? { hosts: results.map((r) => ({ host: r.host, ...r.result })) } : (results[0]?.result ?? {}));
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The lines that print a password the one time it is shown (a generated one, or one in force after a failure). */
export function passwordLines(user: string, password: string, note?: string): string {
  return `  Password for ${user} (${note ? `${note}; ` : ''}shown only this once, store it now):\n\n    ${password}\n\n`;
}

/** A command failed after writing a generated password: it is shown (a JSON event with --json) rather than lost. */
export function revealPassword(output: Output, user: string, password: string, note: string): void {
  if (output.json) output.event('password', { user, password, note });
  else process.stderr.write(`\n${passwordLines(user, password, note)}`);
}
