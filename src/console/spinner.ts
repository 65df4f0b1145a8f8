import chalk from 'chalk';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * A one-line spinner for a TTY (plain start/end lines otherwise). Deliberately minimal: it only
 * ever rewrites its own single line with `\r`, so it cannot misbehave on terminals that report no
 * size (ora 9 loops forever clearing lines when a pty reports 0 columns).
 */
export class Spinner {
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private readonly tty: boolean;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private text: string,
  ) {
    this.tty = stream.isTTY === true && process.env.TERM !== 'dumb';
  }

  start(): this {
    if (!this.tty) return this;
    this.render();
    this.timer = setInterval(() => this.render(), 100);
    this.timer.unref();
    return this;
  }

  private render(): void {
    this.frame = (this.frame + 1) % FRAMES.length;
    this.stream.write(`\r${chalk.cyan(FRAMES[this.frame])} ${this.text}\x1b[K`);
  }

  /** New text for the running line (e.g. progress); shown at the next frame. */
  update(text: string): void {
    this.text = text;
  }

  /** Ends the spinner line with a symbol and final text. */
  stop(symbol: 'ok' | 'info' | 'fail', text: string): void {
    if (this.timer) clearInterval(this.timer);
    const mark = symbol === 'ok' ? chalk.green('✔') : symbol === 'info' ? chalk.blue('ℹ') : chalk.red('✖');
    this.stream.write(`${this.tty ? '\r' : ''}${mark} ${text}${this.tty ? '\x1b[K' : ''}\n`);
  }
}
