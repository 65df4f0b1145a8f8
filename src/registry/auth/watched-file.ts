import { promises as fs } from 'node:fs';

export interface WatchedFileOptions<T> {
  /** How often the file is checked for changes. */
  pollMs?: number;
  /** A new version was parsed and is now in use. */
  onReload?: (value: T) => void;
  /** A version failed to parse: the previous one stays. Called once per version of the file. */
  onError?: (err: Error) => void;
  /** The file is gone: `whenMissing` is in use until it is back (called once until it is). */
  onMissing?: () => void;
  /** The error for a file that exists but cannot be read (EISDIR, EACCES), by its code. */
  describeReadError?: (code: string) => Error;
}

/**
 * A file parsed into a value and followed like the htpasswd file: re-read when its inode, size or
 * times change (an atomic replace is seen at the next poll), a version that fails to parse keeps
 * the previous value and is reported once, a missing file switches to `whenMissing` (fail closed).
 */
export class WatchedFile<T> {
  private current: T;
  private signature = '';
  private refused = '';
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  private constructor(
    readonly path: string,
    private readonly parse: (text: string) => T,
    private readonly whenMissing: T,
    private readonly options: WatchedFileOptions<T>,
  ) {
    this.current = whenMissing;
  }

  /** Reads the file once (errors here are fatal at start-up) and starts following it. */
  static async open<T>(path: string, parse: (text: string) => T, whenMissing: T, options: WatchedFileOptions<T> = {}): Promise<WatchedFile<T>> {
    const file = new WatchedFile(path, parse, whenMissing, options);
    await file.reload(true);
    file.timer = setInterval(() => void file.check(), options.pollMs ?? 250);
    file.timer.unref();
    return file;
  }

  get value(): T {
    return this.current;
  }

  /** One look at the file now (the timer does this every pollMs); errors go to onError. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await this.reload(false);
    } catch (err) {
      this.options.onError?.(err as Error);
    } finally {
      this.checking = false;
    }
  }

  private async reload(initial: boolean): Promise<void> {
    let stat;
    try {
      stat = await fs.stat(this.path);
    } catch (err) {
      if (initial) throw err;
      if (this.signature !== 'missing') {
        this.signature = 'missing';
        this.refused = '';
        this.current = this.whenMissing;
        this.options.onMissing?.();
      }
      return;
    }
    const signature = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
    if (signature === this.signature || signature === this.refused) return;
    let value: T;
    try {
      let text: string;
      try {
        text = await fs.readFile(this.path, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        throw this.options.describeReadError?.(code) ?? err;
      }
      value = this.parse(text);
    } catch (err) {
      if (!initial) this.refused = signature;
      throw err;
    }
    this.refused = '';
    this.current = value;
    this.signature = signature;
    if (!initial) this.options.onReload?.(value);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
