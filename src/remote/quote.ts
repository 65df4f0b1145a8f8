// argv → one POSIX shell command string, and secret redaction for anything shown or logged.
//
// sshd runs the command string with the login user's shell (`$SHELL -c '<string>'`), so each
// argument is single-quoted: inside '...' nothing is special except ' itself, which is written
// as '\'' (close, escaped quote, reopen). Newlines, $, `, \, " and spaces all survive as they are.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one argument for a POSIX shell (sh, dash, bash, zsh). */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new Error('a shell argument cannot contain a NUL byte');
  if (arg === '') return "''";
  if (SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Quotes every argument and joins them with spaces. */
export function shellJoin(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('empty command');
  return argv.map(shellQuote).join(' ');
}

/**
 * Replaces every occurrence of each secret (and of its shell-quoted form, which differs when the
 * secret contains a single quote) by ***. Longer secrets first, so that one secret containing
 * another is hidden whole.
 */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  const all = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    all.add(s);
    const quoted = shellQuote(s.replace(/\0/g, ''));
    if (quoted !== s) {
      all.add(quoted);
      // the part between the outer quotes, as it appears inside a longer quoted argument
      all.add(quoted.slice(1, -1));
    }
  }
  let out = text;
  for (const s of [...all].sort((a, b) => b.length - a.length)) {
    if (s) out = out.split(s).join('***');
  }
  return out;
}
