import { Command } from 'commander';
import { formatBytes } from '../registry/format-bytes.js';
import { describeCopy, describeVerify, parseRepos } from '../registry/backup/backup-dir.js';
import type { CopyProgress } from '../registry/backup/engine.js';
import { withDeployments, type DeploymentFlags } from '../ops/deployment.js';
import { runRemoteBackup, runRemoteRestore } from '../ops/backup.js';
import { addDeploymentOptions } from './host-options.js';
import { Output, printResult } from '../console/output.js';

interface BackupCliFlags extends DeploymentFlags {
  to: string;
  s3Credentials?: string;
  verify?: boolean;
}

interface RestoreCliFlags extends DeploymentFlags {
  from: string;
  s3Credentials?: string;
  repos?: string;
}

/** Hosts sharing a bucket are one registry; hosts with their own data directories are backed up one by one. */
function oneDeployment<D extends { settings: { storage?: string }; label: string }>(all: D[], command: string): D {
  if (all.length > 1 && !all.every((d) => d.settings.storage !== undefined && d.settings.storage === all[0]!.settings.storage)) {
    throw new Error(`${command} works on one deployment at a time: give one target (the settings name ${all.map((d) => d.label).join(', ')})`);
  }
  return all[0]!;
}

const progressText = (p: CopyProgress) => `${p.phase}: ${p.done}/${p.total} blobs, ${p.copiedBlobs} copied (${formatBytes(p.copiedBytes)})`;

/** `backup <target> --to DIR|s3://…`: a consistent copy while the registry serves. */
export function backupCliCommand(): Command {
  const cmd = new Command('backup')
    .description('back a deployment up while it serves: into a local directory (streamed over SSH) or a bucket; a second run copies only new blobs')
    .argument('[target]', 'user@host[:port] or a Host alias from ~/.ssh/config (hosts sharing a bucket: one of them)')
    .requiredOption('--to <dir|s3://…>', 'a directory here, or s3://bucket/prefix?endpoint=… (written from the host)')
    .option('--s3-credentials <file>', 'credentials file of the backup bucket (access_key_id / secret_access_key)')
    .option('--verify', 're-hash every blob of the backup afterwards');
  return addDeploymentOptions(cmd).action(async (target: string | undefined, flags: BackupCliFlags) => {
    const output = new Output({ json: flags.json });
    await withDeployments(target ? [target] : [], flags, output, 'backup', async (all) => {
      const d = oneDeployment(all, 'backup');
      const r = await d.output.step('backup', `Back up ${d.settings.storage ?? d.settings.dataDir} to ${flags.to} (the registry keeps serving)`, async (progress) => {
        const result = await runRemoteBackup(d, { to: flags.to, ...(flags.s3Credentials ? { s3Credentials: flags.s3Credentials } : {}), ...(flags.verify ? { verify: true } : {}), progress: (p) => progress(progressText(p)) });
        return { status: 'done' as const, detail: `${result.report.copiedBlobs} new blob(s), ${formatBytes(result.report.copiedBytes)}`, result };
      });
      if (!output.json) process.stdout.write(describeCopy('backup', r.result.report) + (r.result.verify ? describeVerify(r.result.verify) : ''));
      printResult(output, [{ host: d.label, result: { ...r.result.report, ...(r.result.verify ? { verify: r.result.verify } : {}) } }], false);
    });
  });
}

/** `restore <target> --from DIR|s3://…`: into an empty deployment, or the repositories named by --repos. */
export function restoreCliCommand(): Command {
  const cmd = new Command('restore')
    .description('restore a backup into a deployment while it serves: an empty one, or only the repositories named by --repos; verified by digest')
    .argument('[target]', 'user@host[:port] or a Host alias from ~/.ssh/config')
    .requiredOption('--from <dir|s3://…>', 'a directory here that backup wrote, or s3://bucket/prefix?endpoint=…')
    .option('--s3-credentials <file>', 'credentials file of the backup bucket')
    .option('--repos <names>', 'only these repositories (comma-separated), which the deployment must not have yet');
  return addDeploymentOptions(cmd).action(async (target: string | undefined, flags: RestoreCliFlags) => {
    const repos = parseRepos(flags.repos);
    const output = new Output({ json: flags.json });
    await withDeployments(target ? [target] : [], flags, output, 'restore', async (all) => {
      const d = oneDeployment(all, 'restore');
      const r = await d.output.step('restore', `Restore ${flags.from} into ${d.settings.storage ?? d.settings.dataDir}`, async (progress) => {
        const result = await runRemoteRestore(d, { from: flags.from, ...(flags.s3Credentials ? { s3Credentials: flags.s3Credentials } : {}), ...(repos ? { repos } : {}), progress: (p) => progress(progressText(p)) });
        return { status: 'done' as const, detail: `${result.repositories} repositories, ${result.tags} tags, ${result.blobs} blobs, verified by digest`, result };
      });
      if (!output.json) process.stdout.write(`restored ${r.result.repositories} repositories, ${r.result.tags} tags, ${r.result.blobs} blobs; every tag names its manifest and every blob matched its digest\n`);
      printResult(output, [{ host: d.label, result: { ...r.result } }], false);
    });
  });
}
