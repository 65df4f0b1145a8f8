// Temporary directories that are always removed, even when a test fails.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function makeTempDir(prefix = 'rs-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
}

/**
 * A set of temp dirs owned by one test file: `const tmp = new TempDirs(); after(() => tmp.cleanup());`
 */
export class TempDirs {
  private readonly dirs: string[] = [];

  async make(prefix = 'rs-test-'): Promise<string> {
    const dir = await makeTempDir(prefix);
    this.dirs.push(dir);
    return dir;
  }

  async cleanup(): Promise<void> {
    const dirs = this.dirs.splice(0);
    await Promise.all(dirs.map((d) => removeDir(d)));
  }
}
