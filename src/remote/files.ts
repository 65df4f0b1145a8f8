// Remote file writes and reads as argv (run by RemoteHost with the content on stdin).
//
// Upload: the content is streamed on stdin into a `mktemp` file (mode 0600 from the start) in the
// SAME directory as the destination, fsync'ed, chown/chgrp/chmod'ed, then `mv -f` over the
// destination: rename(2) is atomic, so a reader sees the old file or the new one, never a part.
// This deviates from "SFTP to /tmp, then install": it needs no SFTP subsystem, leaves no copy of a
// secret in /tmp if the connection drops, a copy from /tmp would not be atomic anyway, and it is
// one round trip. A failed upload removes its temp file (trap).
import { posix } from 'node:path';

export interface UploadOptions {
  /** permission bits, e.g. 0o600 */
  mode: number;
  owner?: string;
  group?: string;
  sudo?: boolean;
}

const UPLOAD_SCRIPT = [
  'set -eu',
  'dir=$1 dest=$2 base=$3 mode=$4 owner=$5 group=$6',
  'if [ -d "$dest" ]; then echo "registry-setup: $dest is a directory" >&2; exit 1; fi',
  '[ -d "$dir" ] || mkdir -p -- "$dir"',
  'tmp=$(mktemp "$dir/.$base.XXXXXXXX")',
  `trap 'rm -f -- "$tmp"' EXIT`,
  'cat > "$tmp"',
  'sync -- "$tmp" 2>/dev/null || :',
  '[ -z "$owner" ] || chown -- "$owner" "$tmp"',
  '[ -z "$group" ] || chgrp -- "$group" "$tmp"',
  'chmod -- "$mode" "$tmp"',
  'mv -f -- "$tmp" "$dest"',
].join('\n');

// `[ -e ]` cannot tell "missing" from "in a directory we may not enter": ask cat, in the C locale,
// passing its stdout through (fd 3) and keeping only its error message.
const READ_SCRIPT = [
  '{ err=$(LC_ALL=C cat -- "$1" 2>&1 1>&3); rc=$?; } 3>&1',
  '[ "$rc" -eq 0 ] && exit 0',
  'case $err in *"No such file or directory"*|*"Not a directory"*) exit 44;; esac',
  `printf '%s\n' "$err" >&2`,
  'exit "$rc"',
].join('\n');
/** exit code of the read script when the file does not exist */
export const READ_MISSING = 44;

/** Refuses paths that are relative, contain NUL or newlines, or name a directory (`/x/`). */
export function checkRemotePath(path: string): void {
  if (!path.startsWith('/')) throw new Error(`remote path must be absolute: ${JSON.stringify(path)}`);
  if (/[\0\n\r]/.test(path)) throw new Error(`remote path contains a control character: ${JSON.stringify(path)}`);
  if (path.endsWith('/') || posix.basename(path) === '' || ['.', '..'].includes(posix.basename(path))) {
    throw new Error(`remote path must name a file: ${JSON.stringify(path)}`);
  }
}

function checkName(kind: string, v: string | undefined): void {
  if (v !== undefined && !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(v)) throw new Error(`invalid ${kind} name: ${JSON.stringify(v)}`);
}

/** argv that writes stdin to `dest` atomically with the given mode and ownership. */
export function uploadArgv(dest: string, opts: UploadOptions): string[] {
  checkRemotePath(dest);
  if (!Number.isInteger(opts.mode) || opts.mode < 0 || opts.mode > 0o7777) throw new Error(`invalid file mode: ${opts.mode}`);
  checkName('owner', opts.owner);
  checkName('group', opts.group);
  const dir = posix.dirname(dest);
  const base = posix.basename(dest);
  const mode = opts.mode.toString(8).padStart(4, '0');
  return ['sh', '-c', UPLOAD_SCRIPT, 'registry-setup-upload', dir, dest, base, mode, opts.owner ?? '', opts.group ?? ''];
}

/** argv that prints the file, or exits READ_MISSING when it does not exist. */
export function readArgv(path: string): string[] {
  checkRemotePath(path);
  return ['sh', '-c', READ_SCRIPT, 'registry-setup-read', path];
}
