import type { StorageDriver } from '../storage/driver.js';

/**
 * When each manifest was last pulled, for the retention rules that count pulls: kept in memory as
 * pulls happen (a map update, nothing else on the request path) and merged into one small file in
 * the store every minute and at shutdown. Keys: `<repository>:<tag>` and `<repository>@<digest>`.
 * Several replicas merge by keeping the later time; a pull in the last minute before a crash is
 * forgotten, which only makes retention keep less by pull time than it could.
 */
export const PULLS_PATH = '_retention/pulled.json';
const FLUSH_MS = 60_000;

export async function readPulls(driver: StorageDriver): Promise<Map<string, number>> {
  const bytes = await driver.getContent(PULLS_PATH);
  const out = new Map<string, number>();
  if (!bytes) return out;
  try {
    for (const [k, v] of Object.entries(JSON.parse(bytes.toString('utf8')) as Record<string, unknown>)) {
      const t = typeof v === 'string' ? Date.parse(v) : NaN;
      if (Number.isFinite(t)) out.set(k, t);
    }
  } catch {
    // a damaged file: pull times start over
  }
  return out;
}

export class PullRecorder {
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly driver: StorageDriver,
    private readonly log: (line: string) => void,
  ) {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  note(repository: string, reference: string, at = Date.now()): void {
    const key = reference.includes(':') ? `${repository}@${reference}` : `${repository}:${reference}`;
    this.pending.set(key, at);
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = this.pending;
      this.pending = new Map();
      try {
        const all = await readPulls(this.driver);
        for (const [k, t] of batch) if ((all.get(k) ?? 0) < t) all.set(k, t);
        const doc = Object.fromEntries([...all].map(([k, t]) => [k, new Date(t).toISOString()]));
        await this.driver.putContent(PULLS_PATH, JSON.stringify(doc));
      } catch (err) {
        for (const [k, t] of batch) if ((this.pending.get(k) ?? 0) < t) this.pending.set(k, t);
        this.log(`retention: cannot record pull times: ${(err as Error).message}`);
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
