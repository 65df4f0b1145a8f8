// Deploy's retention step: with `retention:` in the settings, the policy, retention.sh and a daily
// systemd timer on the host that runs them (src/provision/retention.ts); without it (or on the
// hosts after the first, which share the first one's registry), whatever an earlier deploy
// installed is taken out.
import type { Output, StepStatus } from '../console/output.js';
import { RETENTION_LAYOUT } from '../host/contract.js';
import { SYSTEMD_DIR, SYSTEMD_PRESENT_ARGV, enableRetentionTimerArgv, removeRetentionArgv, retentionFiles, retentionUnitName, type ComposeTarget } from '../provision/index.js';
import type { DeploySettings } from '../settings/settings.js';
import type { Executor, FileChange } from './executor.js';

export interface RetentionHost {
  exec: Executor;
  settings: DeploySettings;
  target: ComposeTarget;
  output: Output;
  path(rel: string): string;
}

export interface RetentionStepResult {
  status: StepStatus;
  detail?: string;
  files: FileChange[];
}

/**
 * `runsHere`: this host applies the rules. Hosts of one bucket are one registry, so only the first
 * runs them (two runs at once would only do the work twice).
 */
export async function retentionStep(r: RetentionHost, o: { dryRun: boolean; runsHere: boolean }): Promise<RetentionStepResult> {
  const project = r.settings.composeProject;
  if (!r.settings.retention || !o.runsHere) {
    const installed = (await r.exec.run(['test', '-e', r.path(RETENTION_LAYOUT.script)], { allowFailure: true })).code === 0;
    if (!installed) return { status: 'unchanged', detail: r.settings.retention ? 'runs on the first host' : 'no retention: in the settings', files: [] };
    if (o.dryRun) return { status: 'planned', detail: 'remove the retention timer', files: [] };
    for (const argv of removeRetentionArgv(r.settings.dir, project)) await r.exec.run(argv, { allowFailure: true });
    return { status: 'done', detail: 'retention timer removed', files: [] };
  }
  const files = retentionFiles(r.settings, r.target);
  if ((await r.exec.run(SYSTEMD_PRESENT_ARGV, { allowFailure: true })).code !== 0) {
    const changes = await r.exec.applyFiles(files.filter((f) => !f.path.startsWith(SYSTEMD_DIR)), { withDiff: o.dryRun });
    r.output.warn(`no systemd on this host: retention is not scheduled; run ${r.path(RETENTION_LAYOUT.script)} from cron once a day`);
    return { status: 'skipped', detail: 'no systemd', files: changes };
  }
  const changes = await r.exec.applyFiles(files, { withDiff: o.dryRun });
  const changed = changes.some((c) => c.action !== 'unchanged');
  const unit = `${retentionUnitName(project)}.timer`;
  const enabled = (await r.exec.run(['systemctl', 'is-enabled', unit], { allowFailure: true })).code === 0;
  if (!changed && enabled) return { status: 'unchanged', detail: 'daily timer enabled', files: changes };
  if (o.dryRun) return { status: 'planned', detail: `install ${unit} (daily: retention, then gc)`, files: changes };
  for (const argv of enableRetentionTimerArgv(project)) await r.exec.run(argv);
  return { status: 'done', detail: 'daily timer enabled (retention, then gc)', files: changes };
}
