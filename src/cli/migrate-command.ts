import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { formatBytes } from '../registry/format-bytes.js';
import { withDeployments, type DeploymentFlags } from '../ops/deployment.js';
import { runRemoteBackup } from '../ops/backup.js';
import { checkMigrationTarget, cleanupMigration, mergeOldDirectory, MigrateError, writeMigrationRecord } from '../ops/migrate.js';
import { addDeploymentOptions } from './host-options.js';
import { runDeploy } from './deploy-command.js';
import { Output, printResult } from '../console/output.js';

interface MigrateCliFlags extends DeploymentFlags {
  to?: string;
  s3Credentials?: string;
  cleanup?: boolean;
}

/**
 * `migrate <target> --to s3://…`: a single-host deployment moves from its data directory to a
 * bucket while it serves: copy, catch up, switch (a re-deploy with `storage`), merge the switch
 * window, verified by digest; the old directory stays until `migrate --cleanup`.
 */
export function migrateCliCommand(): Command {
  const cmd = new Command('migrate')
    .description('move a deployment from its data directory to an S3 bucket while it serves; the old directory stays until --cleanup')
    .argument('[target]', 'user@host[:port] or a Host alias from ~/.ssh/config')
    .option('--to <s3://…>', 'the (empty) bucket and prefix: s3://bucket/prefix?endpoint=…&region=…')
    .option('--s3-credentials <file>', "the bucket's access_key_id = … / secret_access_key = … lines")
    .option('--cleanup', 'after a migration: delete the old data directory\'s images');
  return addDeploymentOptions(cmd).action(async (target: string | undefined, flags: MigrateCliFlags) => {
    const output = new Output({ json: flags.json });
    const targets = target ? [target] : [];
    if (flags.cleanup) {
      if (flags.to || flags.s3Credentials) throw new MigrateError('--cleanup takes no --to or --s3-credentials: it removes what the recorded migration left');
      await withDeployments(targets, flags, output, 'migrate', async ([d]) => {
        const r = await d!.output.step('cleanup', 'Delete the old data directory the bucket replaced', async () => ({ status: 'done' as const, record: await cleanupMigration(d!) }));
        if (!output.json) process.stdout.write(`deleted ${r.record.from}/docker; the registry serves ${r.record.to}\n`);
        printResult(output, [{ host: d!.label, result: { ...r.record } }], false);
      });
      return;
    }
    if (!flags.to) throw new MigrateError('give the bucket: migrate <target> --to s3://bucket/prefix?endpoint=… --s3-credentials FILE');
    checkMigrationTarget(flags.to);
    if (!flags.s3Credentials) throw new MigrateError('--to needs --s3-credentials FILE (access_key_id / secret_access_key)');
    let credentials: string;
    try {
      credentials = readFileSync(flags.s3Credentials, 'utf8');
    } catch (err) {
      throw new MigrateError(`cannot read --s3-credentials ${flags.s3Credentials}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const to = flags.to;
    const copyOpts = { to, s3Credentials: flags.s3Credentials };
    // 1. copy and catch up while the data directory serves
    const oldDataDir = await withDeployments(targets, flags, output, 'migrate', async (all) => {
      if (all.length > 1) throw new MigrateError('migrate moves one deployment at a time: give one target');
      const d = all[0]!;
      if (d.settings.storage) throw new MigrateError(`${d.hostName} serves ${d.settings.storage} already; nothing to migrate`);
      for (const [id, name] of [['copy', `Copy ${d.settings.dataDir} into ${to} (the registry keeps serving)`], ['catch-up', 'Catch up what was pushed meanwhile']] as const) {
        await d.output.step(id, name, async (progress) => {
          const r = await runRemoteBackup(d, { ...copyOpts, progress: (p) => progress(`${p.phase}: ${p.copiedBlobs} blobs copied`) });
          return { status: 'done' as const, detail: `${r.report.copiedBlobs} blob(s), ${formatBytes(r.report.copiedBytes)}` };
        });
      }
      return d.settings.dataDir;
    });
    // 2. switch: the same change a re-deploy with `storage` makes
    const code = await runDeploy(targets, { ...flags, json: false, yes: true, storage: to, s3Credentials: flags.s3Credentials } as Parameters<typeof runDeploy>[1]);
    if (code !== 0) throw new MigrateError(`the switch to ${to} failed (see above); the images are still in ${oldDataDir}, and the bucket holds a copy`);
    // 3. merge the switch window, verified by digest; keep the old directory
    await withDeployments(targets, flags, output, 'migrate', async ([d]) => {
      const r = await d!.output.step('merge', `Merge what ${oldDataDir} got during the switch, verified by digest`, async () => {
        const report = await mergeOldDirectory(d!, credentials, oldDataDir);
        return { status: 'done' as const, detail: `${report.copiedBlobs} blob(s); ${report.tags} tags checked`, report };
      });
      await writeMigrationRecord(d!, { from: oldDataDir, to, migratedAt: new Date().toISOString() });
      if (!output.json) process.stdout.write(`the registry serves ${to}; ${oldDataDir} is kept until: registry-setup migrate ${d!.target} --cleanup\n`);
      printResult(output, [{ host: d!.label, result: { from: oldDataDir, to, merge: r.report } }], false);
    });
  });
}
