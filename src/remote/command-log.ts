// A local, append-only record of what was done on a host: one line per command (time, host,
// exit code, duration, the command) and a few connection events. Every secret known to the
// RemoteHost (secretValues ever passed, the sudo password) is replaced by *** before writing.
// The file is created 0600. Writing is synchronous so that lines stay in order and survive a crash.
import { appendFileSync, chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { redact } from './quote.js';

export interface LoggedCommand {
  display: string;
  code: number;
  durationMs: number;
  failure?: string;
}

export class CommandLog {
  private broken = false;

  /** Opens (creates) the file now, so that an unwritable path fails before anything runs. */
  constructor(
    readonly path: string | undefined,
    private readonly secrets: () => readonly string[],
  ) {
    if (!path) return;
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'a', 0o600);
    closeSync(fd);
    try {
      chmodSync(path, 0o600);
    } catch {
      // not ours to change (e.g. /dev/stderr); fine
    }
  }

  private write(host: string, text: string): void {
    if (!this.path || this.broken) return;
    // one line per entry: a newline inside an argument is shown as \n
    const safe = redact(text, this.secrets()).replace(/\r/g, '\\r').replace(/\n/g, '\\n');
    try {
      appendFileSync(this.path, `${new Date().toISOString()} ${host} ${safe}\n`, { mode: 0o600 });
    } catch {
      this.broken = true; // a log that cannot be written must not stop a deployment
    }
  }

  command(host: string, c: LoggedCommand): void {
    const status = c.failure ? `${c.failure}` : `exit=${c.code}`;
    this.write(host, `${status} ${(c.durationMs / 1000).toFixed(3)}s $ ${c.display}`);
  }

  note(host: string, text: string): void {
    this.write(host, `# ${text}`);
  }
}
