// The data the provisioning code returns and one executor runs: argv arrays and file contents.
// Nothing in src/provision performs I/O on a host.

/** One command: argv[0] is the program. Never a shell string; the executor quotes for SSH. */
export type Argv = string[];

export interface FileSpec {
  /** absolute path on the host */
  path: string;
  content: string | Buffer;
  /** permission bits, e.g. 0o644 */
  mode: number;
  /** numeric uid/gid or names; root when absent */
  owner?: number | string;
  group?: number | string;
  /** secrets (htpasswd, keys): never print the content or a diff of it */
  sensitive?: boolean;
}

export interface DirSpec {
  path: string;
  mode: number;
  owner?: number | string;
  group?: number | string;
}

/**
 * A unit of provisioning. The executor:
 *   1. runs `check` if present: exit 0 means "already done" and the whole step is skipped;
 *   2. writes `files` (upload to a temp file, then `install -m MODE -o OWNER -g GROUP tmp path`),
 *      skipping files whose content and mode are unchanged (see planDiff);
 *   3. runs `commands` in order, stopping at the first non-zero exit.
 * `needsSudo`: check, file installs and commands run as root (`sudo -n` unless the login is root).
 */
export interface Step {
  id: string;
  name: string;
  check?: Argv;
  commands: Argv[];
  files?: FileSpec[];
  needsSudo?: boolean;
  /**
   * The apt repository (URL) this step's `apt-get update` must fetch. apt-get update exits 0 when
   * a repository cannot be fetched and the failure would only surface later as "no installation
   * candidate"; the executor reads apt's output instead and stops with the URL and apt's reason
   * (aptFetchFailure).
   */
  aptRepository?: string;
}

/** `0o640` → `"0640"`, as install/chmod take it. */
export function formatMode(mode: number): string {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new RangeError(`bad file mode ${mode}`);
  return mode.toString(8).padStart(4, '0');
}

/** `install -d` creates missing parents and (re)applies mode and owner to the directory itself. */
export function installDirArgv(dir: DirSpec): Argv {
  return ['install', '-d', '-m', formatMode(dir.mode), '-o', String(dir.owner ?? 0), '-g', String(dir.group ?? 0), dir.path];
}

/** The argv that moves an uploaded temp file into place with its mode and owner. */
export function installFileArgv(tempPath: string, file: FileSpec): Argv {
  return ['install', '-m', formatMode(file.mode), '-o', String(file.owner ?? 0), '-g', String(file.group ?? 0), tempPath, file.path];
}

/** Thrown by the preflight checks: the message is meant for the user as it is. */
export class PreflightError extends Error {
  override name = 'PreflightError';
}
