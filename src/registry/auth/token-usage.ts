import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * When each CI token last signed in, for `registry-setup tokens list`: kept in memory per request
 * and written (atomically, only when something changed) to a small JSON file every minute and at
 * shutdown: `{ "ci-app": "2026-12-06T20:00:00.000Z", … }`. What the file held at start is kept, so
 * restarts lose at most the last minute.
 */
export class TokenUsage {
  private lastUsed = new Map<string, number>();
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    private readonly log: (line: string) => void,
  ) {}

  static async open(file: string, log: (line: string) => void, flushMs = 60_000): Promise<TokenUsage> {
    const usage = new TokenUsage(file, log);
    try {
      const saved = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
      for (const [name, when] of Object.entries(saved)) {
        const t = typeof when === 'string' ? Date.parse(when) : NaN;
        if (!Number.isNaN(t)) usage.lastUsed.set(name, t);
      }
    } catch (err) {
      // no file yet is the normal start; anything else is only a lost history
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log(`token usage file ${file} not read, starting afresh: ${(err as Error).message}`);
    }
    usage.timer = setInterval(() => void usage.flush(), flushMs);
    usage.timer.unref();
    return usage;
  }

  note(name: string, now = Date.now()): void {
    this.lastUsed.set(name, now);
    this.dirty = true;
  }

  /** Writes the file if anything changed since the last write (temp file, then rename). */
  flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const body = Object.fromEntries([...this.lastUsed].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, t]) => [name, new Date(t).toISOString()]));
      const temp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.${process.pid}.tmp`);
      try {
        await fs.writeFile(temp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o644 });
        await fs.rename(temp, this.file);
      } catch (err) {
        this.dirty = true;
        this.log(`token usage not written to ${this.file}: ${(err as Error).message}`);
        await fs.rm(temp, { force: true });
      }
    });
    return this.writing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
