// Deploy's renewal step, decided from what it observed on a host: whether systemd runs there,
// whether the units changed and the timer is enabled, whether an earlier renew.sh is installed.
// Pure: src/deploy/deploy.ts observes, writes the files and runs the argv these return.
import { posix } from 'node:path';
import { SYSTEMD_DIR, enableTimerArgv, removeRenewalArgv } from './renewal.js';
import type { Argv, FileSpec } from './step.js';

export interface RenewalStepPlan {
  status: 'unchanged' | 'done' | 'skipped';
  detail: string;
  /** run in order after the files are written */
  commands: Argv[];
}

/** No systemd (a container, a minimal host): only renew.sh is written, cron is the user's to set up. */
export function renewalWithoutSystemd(files: readonly FileSpec[], dir: string): RenewalStepPlan & { files: FileSpec[]; warning: string } {
  return {
    status: 'skipped',
    detail: 'no systemd',
    commands: [],
    files: files.filter((f) => !f.path.startsWith(SYSTEMD_DIR)),
    warning: `no systemd on this host: automatic renewal is not installed; run ${dir}/renew.sh from cron twice a day`,
  };
}

/** After the units were written: nothing to do when none changed and the timer is enabled, else (re-)enable it. */
export function renewalTimerPlan(o: { filesChanged: boolean; timerEnabled: boolean; project?: string }): RenewalStepPlan {
  if (!o.filesChanged && o.timerEnabled) return { status: 'unchanged', detail: 'timer enabled', commands: [] };
  return { status: 'done', detail: 'timer enabled', commands: enableTimerArgv(o.project) };
}

/** Where an earlier Let's Encrypt deploy left its script (its presence means the timer may be there too). */
export function renewScriptPath(dir: string): string {
  return posix.join(dir.replace(/\/+$/, '') || '/', 'renew.sh');
}

/**
 * A certificate not from Let's Encrypt: an installed renewal would replace it, so it goes (each
 * command with allowFailure: without systemd the systemctl ones fail).
 */
export function noRenewalPlan(o: { installed: boolean; dir: string; project?: string }): RenewalStepPlan {
  if (!o.installed) return { status: 'unchanged', detail: 'none installed', commands: [] };
  return { status: 'done', detail: 'renewal timer and renew.sh removed', commands: removeRenewalArgv(o.dir, o.project) };
}
