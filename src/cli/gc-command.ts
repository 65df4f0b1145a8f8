import { Command } from 'commander';
import { formatBytes, GC_OPTION_HELP, humanSummary, runGc } from '../registry/gc/gc-command.js';
import { addDeploymentOptions, withDeployment, type DeploymentFlags } from '../ops/deployment.js';
import { runRemoteGc } from '../ops/gc.js';
import { Output } from './output.js';

interface GcCliFlags extends DeploymentFlags {
  data?: string;
  dryRun?: boolean;
  deleteUntagged?: boolean;
  grace?: string;
  settle?: string;
  stateFile?: string;
}

/**
 * `gc [target]`: with a target (or --config), inside the deployment's running registry container;
 * with --data (or neither), on a local data directory, exactly like the payload's own `gc`.
 */
export function gcCliCommand(): Command {
  const cmd = new Command('gc')
    .description('delete unreferenced blobs (and with --delete-untagged, untagged manifests): on a deployment while it serves (gc <target>), or locally (gc --data DIR)')
    .argument('[target]', 'user@host[:port] or a Host alias from ~/.ssh/config; omit with --data')
    .option('--data <dir>', `run here, on this data directory: ${GC_OPTION_HELP.data}`)
    .option('--dry-run', GC_OPTION_HELP.dryRun)
    .option('--delete-untagged', GC_OPTION_HELP.deleteUntagged)
    .option('--grace <duration>', `${GC_OPTION_HELP.grace} (default 1h)`)
    .option('--settle <duration>', GC_OPTION_HELP.settle)
    .option('--state-file <path>', `local runs: ${GC_OPTION_HELP.stateFile} (on a host: always <dir>/state/gc.json)`);
  return addDeploymentOptions(cmd).action(async (target: string | undefined, flags: GcCliFlags) => {
    if (target !== undefined && flags.data !== undefined) throw new Error('give either a target (collect on that host) or --data (collect here), not both');
    const remote = target !== undefined || (flags.config !== undefined && flags.data === undefined);
    const common = { dryRun: flags.dryRun, deleteUntagged: flags.deleteUntagged, grace: flags.grace, settle: flags.settle };
    if (!remote) {
      await runGc({ ...common, data: flags.data, json: flags.json, stateFile: flags.stateFile });
      return;
    }
    if (flags.stateFile !== undefined) throw new Error('--state-file is for local runs; on a host the result is always recorded in <dir>/state/gc.json');
    const output = new Output({ json: flags.json });
    await withDeployment(target, flags, output, 'gc', async (d) => {
      const r = await output.step('gc', `Collect garbage in ${d.settings.dataDir} (the registry keeps serving)`, async () => {
        const result = await runRemoteGc(d, common);
        const n = result.report.deletedBlobs.length;
        const detail = `${result.report.dryRun ? 'would free' : 'freed'} ${formatBytes(result.report.freedBytes)} (${n} blob${n === 1 ? '' : 's'})`;
        return { status: (result.report.dryRun || (n === 0 && result.report.deletedManifests.length === 0) ? 'skipped' : 'done') as 'skipped' | 'done', detail, result };
      });
      if (!r.result.stateFile) output.warn('this deployment has no state/ mount, so status cannot show this run: run registry-setup upgrade');
      if (output.json) output.event('result', { report: r.result.report, ...(r.result.stateFile ? { stateFile: r.result.stateFile } : {}) });
      else process.stdout.write(humanSummary(r.result.report, d.settings.dataDir));
    });
  });
}
