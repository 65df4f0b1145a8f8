// A mirror prefix over repositories that were pushed: once it is deployed, pulls of those names
// go to the upstream and pushes are refused, so deploy says so before it changes anything.
import { posix } from 'node:path';
import type { Argv } from '../provision/index.js';
import type { DeploySettings } from '../settings/settings.js';
import type { Executor } from './executor.js';

/** registry:2 layout: repositories live under <data>/docker/registry/v2/repositories/<name>/. */
const REPOSITORIES_DIR = 'docker/registry/v2/repositories';
/** how many repository names a warning lists per prefix */
const SHOWN = 5;

/**
 * Prints `<prefix> <repository>` for the first repositories under each prefix (a directory with
 * _manifests below <root>/<prefix>/). Fixed script: the root and prefixes are positional parameters.
 */
export function pushedUnderPrefixArgv(dataDir: string, prefixes: readonly string[]): Argv {
  const script = [
    'root=$1; shift',
    'for p in "$@"; do',
    '  [ -d "$root/$p" ] || continue',
    '  find "$root/$p" -mindepth 1 \\( -name _layers -o -name _uploads \\) -prune -o -type d -name _manifests -prune -print 2>/dev/null | head -n ' + String(SHOWN) + ' | while IFS= read -r m; do',
    '    n=${m#"$root"/}; echo "$p ${n%/_manifests}"',
    '  done',
    'done',
  ].join('\n');
  return ['sh', '-c', script, 'sh', posix.join(dataDir, REPOSITORIES_DIR), ...prefixes];
}

/** The warnings for `pushedUnderPrefixArgv`'s output: one per clashing prefix. */
export function clashWarnings(stdout: string): string[] {
  const byPrefix = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    const [prefix, repo] = line.trim().split(' ');
    if (!prefix || !repo) continue;
    byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), repo]);
  }
  return [...byPrefix].map(
    ([prefix, repos]) =>
      `the new mirror prefix ${prefix}/ covers pushed repositories (${repos.join(', ')}${repos.length >= SHOWN ? ', …' : ''}): once deployed, their names are pulled from the upstream and pushes to them are refused; give the mirror another prefix to keep them`,
  );
}

/** Data in a bucket is not looked at (deploy has no reader for it); a data directory is. */
export async function mirrorPrefixClashes(exec: Executor, settings: Pick<DeploySettings, 'storage' | 'dataDir'>, prefixes: readonly string[]): Promise<string[]> {
  if (settings.storage !== undefined || prefixes.length === 0) return [];
  const r = await exec.run(pushedUnderPrefixArgv(settings.dataDir, prefixes), { allowFailure: true });
  return clashWarnings(r.stdout);
}
