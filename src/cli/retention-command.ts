import { Command } from 'commander';
import { formatBytes } from '../registry/format-bytes.js';
import { eachDeployment, withDeployments, type DeploymentFlags } from '../ops/deployment.js';
import { retentionResult, retentionSummary, runLocalRetention, runRemoteRetention } from '../ops/retention.js';
import { addDeploymentOptions } from './host-options.js';
import { Output, printResult } from '../console/output.js';

interface RetentionCliFlags extends DeploymentFlags {
  data?: string;
  policy?: string;
  dryRun?: boolean;
}

/**
 * `retention [targets...]`: on a deployment, the rules of its registry-setup.yaml (deployed with
 * it), then the online gc (hosts sharing a bucket: on the first one only); with --data and
 * --policy, here on a data directory.
 */
export function retentionCliCommand(): Command {
  const cmd = new Command('retention')
    .description('apply the retention rules (retention: in registry-setup.yaml, zot\'s shape), then collect garbage: on a deployment while it serves, or locally (--data DIR --policy FILE)')
    .argument('[targets...]', 'user@host[:port] or a Host alias from ~/.ssh/config (hosts sharing a bucket: the first applies them for all); omit with --data')
    .option('--data <dir>', 'run here, on this data directory (registry:2 layout)')
    .option('--policy <file>', 'with --data: a file holding the retention: section alone (policies: …)')
    .option('--dry-run', 'list what would go (repository, tag, digest, pushed at, size) and the bytes it would free; remove nothing');
  return addDeploymentOptions(cmd).action(async (targets: string[], flags: RetentionCliFlags) => {
    if (targets.length > 0 && flags.data !== undefined) throw new Error('give either a target (apply on that host) or --data (apply here), not both');
    const output = new Output({ json: flags.json });
    const remote = targets.length > 0 || (flags.config !== undefined && flags.data === undefined);
    if (!remote) {
      if (flags.data === undefined || flags.policy === undefined) throw new Error('give a target, or --data DIR and --policy FILE to apply the rules here');
      const { data, policy } = flags;
      const run = await output.step('retention', `Apply ${policy} to ${data}${flags.dryRun ? ' (dry run)' : ''}`, async () => {
        const r = await runLocalRetention({ data, policy, dryRun: flags.dryRun, log: (l) => output.event('log', { message: l }) });
        return { status: r.retention.dryRun ? ('skipped' as const) : ('done' as const), detail: `${r.retention.removedTags.length} tag(s)`, run: r };
      });
      if (!output.json) process.stdout.write(retentionSummary(run.run, data));
      printResult(output, [{ host: 'local', result: retentionResult(run.run) }], false);
      return;
    }
    if (flags.policy !== undefined) throw new Error('--policy is for local runs; on a host the rules are retention: of the deployed registry-setup.yaml');
    await withDeployments(targets, flags, output, 'retention', async (all) => {
      // One bucket is one registry: its first host applies the rules while the others keep serving.
      const ds = all[0]!.settings.storage ? all.slice(0, 1) : all;
      if (ds.length < all.length) output.info(`The hosts share ${all[0]!.settings.storage}: applying the rules on ${all[0]!.label} only.`);
      const results = await eachDeployment(ds, async (d) => {
        const where = d.settings.storage ?? d.settings.dataDir;
        const r = await d.output.step('retention', `Apply the retention rules to ${where}${flags.dryRun ? ' (dry run)' : ', then gc'}`, async () => {
          const run = await runRemoteRetention(d, { dryRun: flags.dryRun });
          const n = run.retention.removedTags.length;
          const detail = run.retention.dryRun ? `${n} tag(s) would go` : `${n} tag(s) removed, ${formatBytes(run.gc?.freedBytes ?? 0)} freed`;
          return { status: (run.retention.dryRun || n === 0 ? 'skipped' : 'done') as 'skipped' | 'done', detail, run };
        });
        if (!output.json) process.stdout.write(retentionSummary(r.run, `${d.label} (${where})`));
        return { host: d.label, result: retentionResult(r.run) };
      });
      printResult(output, results, all.length > 1);
    });
  });
}
