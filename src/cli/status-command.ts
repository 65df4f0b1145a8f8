import { stdoutColors } from '../console/colors.js';
import { Command } from 'commander';
import { eachDeployment, withDeployments, type DeploymentFlags } from '../ops/deployment.js';
import { addDeploymentOptions } from './host-options.js';
import { collectStatus, formatStatus, formatStatusTable } from '../ops/status.js';
import { Output, printResult } from '../console/output.js';

/**
 * `status [targets...]`: exit 0 when healthy, 1 when any check fails on any host (warnings do not
 * count). Several hosts: one row each (`--json`: a result with one entry per host).
 */
export function statusCommand(): Command {
  return addDeploymentOptions(
    new Command('status')
      .description('containers, versions, URL, certificate, disk, content, last renewal, GC and retention run (one row per host); exits 1 when anything is unhealthy')
      .argument('[targets...]', "user@host[:port] or a Host alias from ~/.ssh/config; several, or none for the --config file's"),
  ).action(async (targets: string[], flags: DeploymentFlags) => {
    const output = new Output({ json: flags.json });
    const rows = await withDeployments(targets, flags, output, 'status', (ds) =>
      eachDeployment(ds, async (d) => {
        const r = await d.output.step('collect', `Look at the deployment in ${d.dir}`, async () => {
          const report = await collectStatus(d);
          return { status: 'skipped' as const, detail: report.healthy ? 'healthy' : 'unhealthy', report };
        });
        return { host: d.label, report: r.report };
      }),
    );
    const colors = { ok: stdoutColors.green, warn: stdoutColors.yellow, fail: stdoutColors.red };
    if (flags.json) printResult(output, rows.map((r) => ({ host: r.host, result: { ...r.report } })), rows.length > 1);
    else process.stdout.write(rows.length === 1 ? formatStatus(rows[0]!.report, colors) : formatStatusTable(rows, colors));
    process.exitCode = rows.every((r) => r.report.healthy) ? 0 : 1;
  });
}
