import { Command } from 'commander';
import { formatBytes } from '../registry/format-bytes.js';
import { GC_OPTION_HELP, humanSummary } from '../registry/gc/gc-text.js';
import { runLocalGc, type LocalGcOptions } from '../ops/local-gc.js';
import { parseDuration } from '../registry/config.js';
import { eachDeployment, withDeployments, type DeploymentFlags } from '../ops/deployment.js';
import { addDeploymentOptions } from './host-options.js';
import { runRemoteGc } from '../ops/gc.js';
import { Output, printResult } from '../console/output.js';

/** the local run's options (json comes from the output mode, not a flag of its own here) */
interface GcCliFlags extends DeploymentFlags, Omit<LocalGcOptions, 'json'> {}

/**
 * `gc [targets...]`: with targets (or --config), inside the deployments' running registry containers
 * (hosts sharing a bucket: on the first one only, the others keep serving); with --data (or
 * neither), on a local data directory, exactly like the payload's own `gc`.
 */
export function gcCliCommand(): Command {
  const cmd = new Command('gc')
    .description('delete unreferenced blobs (and with --delete-untagged, untagged manifests): on a deployment while it serves (gc <target>), or locally (gc --data DIR)')
    .argument('[targets...]', 'user@host[:port] or a Host alias from ~/.ssh/config (hosts sharing a bucket: the first collects for all); omit with --data')
    .option('--data <dir>', `run here, on this data directory: ${GC_OPTION_HELP.data}`)
    .option('--dry-run', GC_OPTION_HELP.dryRun)
    .option('--delete-untagged', GC_OPTION_HELP.deleteUntagged)
    .option('--grace <duration>', `${GC_OPTION_HELP.grace} (default 1h)`)
    .option('--settle <duration>', GC_OPTION_HELP.settle)
    .option('--mirror-max-idle <duration>', GC_OPTION_HELP.mirrorMaxIdle)
    .option('--state-file <path>', `local runs: ${GC_OPTION_HELP.stateFile} (on a host: always <dir>/state/gc.json)`);
  return addDeploymentOptions(cmd).action(async (targets: string[], flags: GcCliFlags) => {
    if (targets.length > 0 && flags.data !== undefined) throw new Error('give either a target (collect on that host) or --data (collect here), not both');
    const remote = targets.length > 0 || (flags.config !== undefined && flags.data === undefined);
    // checked here by the payload's own parser, so a typo fails before any host is contacted
    if (flags.mirrorMaxIdle !== undefined) parseDuration(flags.mirrorMaxIdle, '--mirror-max-idle');
    const common = { dryRun: flags.dryRun, deleteUntagged: flags.deleteUntagged, grace: flags.grace, settle: flags.settle, mirrorMaxIdle: flags.mirrorMaxIdle };
    if (!remote) {
      // the payload's own gc, in a child process; --json: its report becomes the result line
      const local = await runLocalGc({ ...common, data: flags.data, json: flags.json, stateFile: flags.stateFile });
      if (local.code !== 0) process.exitCode = local.code;
      else if (local.report) printResult(new Output({ json: true }), [{ host: 'local', result: { report: local.report, ...(flags.stateFile !== undefined ? { stateFile: flags.stateFile } : {}) } }], false);
      return;
    }
    if (flags.stateFile !== undefined) throw new Error('--state-file is for local runs; on a host the result is always recorded in <dir>/state/gc.json');
    const output = new Output({ json: flags.json });
    await withDeployments(targets, flags, output, 'gc', async (all) => {
      // One bucket is one registry: its first host collects while the others keep serving.
      const ds = all[0]!.settings.storage ? all.slice(0, 1) : all;
      if (ds.length < all.length) output.info(`The hosts share ${all[0]!.settings.storage}: collecting on ${all[0]!.label} only.`);
      const results = await eachDeployment(ds, async (d) => {
        const where = d.settings.storage ?? d.settings.dataDir;
        const r = await d.output.step('gc', `Collect garbage in ${where} (the registry keeps serving)`, async () => {
          const result = await runRemoteGc(d, common);
          const n = result.report.deletedBlobs.length;
          const detail = `${result.report.dryRun ? 'would free' : 'freed'} ${formatBytes(result.report.freedBytes)} (${n} blob${n === 1 ? '' : 's'})`;
          return { status: (result.report.dryRun || (n === 0 && result.report.deletedManifests.length === 0) ? 'skipped' : 'done') as 'skipped' | 'done', detail, result };
        });
        if (!r.result.stateFile) d.output.warn('this deployment has no state/ mount, so status cannot show this run: run registry-setup upgrade');
        if (!output.json) process.stdout.write(humanSummary(r.result.report, where));
        return { host: d.label, result: { report: r.result.report, ...(r.result.stateFile ? { stateFile: r.result.stateFile } : {}) } };
      });
      printResult(output, results, all.length > 1);
    });
  });
}
