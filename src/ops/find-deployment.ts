// Where a deployment lives when --dir is not given and the default directory holds nothing: every
// deployment's containers carry compose's labels (the project, its working directory and compose
// file), and a deployment's directory holds registry-setup.json. Compose v1 (>= 1.25) and v2 both
// write these labels, on stopped containers too (`docker ps -a`).
import { posix } from 'node:path';
import type { Argv } from '../provision/index.js';
import { HOST_LAYOUT } from '../host/contract.js';
import type { Executor } from '../deploy/executor.js';
import { OpsError } from './errors.js';

const LABELS = ['com.docker.compose.project', 'com.docker.compose.project.working_dir', 'com.docker.compose.project.config_files'];

/** Every compose container's project, working directory and compose files, one per line. */
export const COMPOSE_LABELS_ARGV: Argv = ['docker', 'ps', '-a', '--filter', 'label=com.docker.compose.project', '--format', LABELS.map((l) => `{{.Label "${l}"}}`).join('\t')];

/** exit 0 when the directory is missing or empty: then there is nothing of a deployment there. */
export function emptyDirArgv(dir: string): Argv {
  return ['sh', '-c', '[ ! -e "$1" ] || [ -z "$(ls -A -- "$1")" ]', 'sh', dir];
}

/** The directories (with registry-setup.json in them) among the arguments, one per line. */
export function withRecordArgv(dirs: readonly string[]): Argv {
  return ['sh', '-c', `for d in "$@"; do [ -f "$d/${HOST_LAYOUT.deployedSettings}" ] && printf '%s\\n' "$d"; done; exit 0`, 'sh', ...dirs];
}

/**
 * Pure: the directories the containers of COMPOSE_LABELS_ARGV's output were started from (working
 * directory and the compose files' directories), only those of `project` when it is known. Sorted,
 * without duplicates or trailing slashes; relative paths (never written by compose) are ignored.
 */
export function composeDirectories(labelsOutput: string, project?: string): string[] {
  const dirs = new Set<string>();
  for (const line of labelsOutput.split('\n')) {
    if (!line.trim()) continue;
    const [name = '', workingDir = '', configFiles = ''] = line.split('\t');
    if (project !== undefined && name !== project) continue;
    const candidates = [workingDir, ...configFiles.split(',').filter(Boolean).map((f) => posix.dirname(f.trim()))];
    for (const d of candidates) if (d.startsWith('/')) dirs.add(d.length > 1 ? d.replace(/\/+$/, '') : d);
  }
  return [...dirs].sort();
}

/** Pure: what to do with the deployments found; throws when there are several (one line, with the --dir of each). */
export function pickDeployment(found: readonly string[], searched: string, host: string): string | undefined {
  if (found.length <= 1) return found[0];
  throw new OpsError(`no registry-setup deployment in ${searched} on ${host}, but ${found.length} elsewhere: pass ${found.map((d) => `--dir ${d}`).join(' or ')}`);
}

/**
 * The only deployment on the host when `defaultDir` holds nothing: its directory, or undefined when
 * there is none (or the default directory is not empty: what is there is the user's to sort out).
 */
export async function findDeployment(exec: Executor, defaultDir: string, project?: string): Promise<string | undefined> {
  if ((await exec.run(emptyDirArgv(defaultDir), { allowFailure: true })).code !== 0) return undefined;
  const labels = await exec.run(COMPOSE_LABELS_ARGV, { allowFailure: true });
  if (labels.code !== 0) return undefined; // no Docker: no deployment either
  const dirs = composeDirectories(labels.stdout, project).filter((d) => d !== defaultDir);
  if (dirs.length === 0) return undefined;
  const found = (await exec.run(withRecordArgv(dirs))).stdout.split('\n').filter(Boolean);
  return pickDeployment(found, defaultDir, exec.host.target.host);
}
