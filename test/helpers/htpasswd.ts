// htpasswd files for tests, written by the real `htpasswd` tool (bcrypt). The password goes through
// stdin (-i), never through process arguments.
import { run } from './exec.js';

export interface Credential {
  user: string;
  password: string;
}

/** Creates (or truncates) `file` with one bcrypt entry per credential. */
export async function writeHtpasswd(file: string, creds: readonly Credential[]): Promise<string> {
  if (creds.length === 0) throw new Error('writeHtpasswd needs at least one credential');
  let first = true;
  for (const { user, password } of creds) {
    const args = ['-B', '-i', ...(first ? ['-c'] : []), file, user];
    await run('htpasswd', args, { input: `${password}\n`, timeoutMs: 30_000, redact: [password] });
    first = false;
  }
  return file;
}
