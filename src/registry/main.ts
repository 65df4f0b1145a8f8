// Entry point of the image payload (dist/registry/registry.mjs): `node registry.mjs serve`, with distribution's
// environment variables honoured, so a registry:2 compose file runs it unchanged.
import { Command, CommanderError } from 'commander';
import { describeStartupError, serveCommand } from './serve-command.js';
import { healthcheckCommand } from './healthcheck-command.js';
import { serveFromFlags } from './serve-run.js';
import { releaseParentChannel, reportFailureToParent } from './parent-channel.js';

releaseParentChannel();

// The maintenance commands are loaded only when run: the ACME client and GC would otherwise be
// evaluated, and held in memory, by every long-running server.
const sub = process.argv[2];
const program = new Command('registry')
  .description('registry-setup registry payload')
  .exitOverride()
  .addCommand(serveCommand(serveFromFlags), { isDefault: true })
  .addCommand(healthcheckCommand())
  .addCommand(sub === 'gc' ? (await import('./gc/gc-command.js')).gcCommand() : new Command('gc').description('garbage collection (see gc --help)'))
  .addCommand(
    sub === 'retention'
      ? (await import('./retention/retention-command.js')).retentionCommand()
      : new Command('retention').description('retention rules, then gc (see retention --help)'),
  )
  .addCommand(sub === 'count' ? (await import('./count-command.js')).countCommand() : new Command('count').description('count repositories and tags (see count --help)'))
  .addCommand(sub === 'backup' ? (await import('./backup/backup-command.js')).backupCommand() : new Command('backup').description('copy the registry into a backup while it serves (see backup --help)'))
  .addCommand(sub === 'restore' ? (await import('./backup/backup-command.js')).restoreCommand() : new Command('restore').description('copy a backup into an empty registry (see restore --help)'))
  .addCommand(
    sub === 'renew' ? (await import('../acme/renew-command.js')).renewCommand() : new Command('renew').description('certificate renewal (see renew --help)'),
  );

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const message = describeStartupError(err);
  // run by the CLI (`registry-setup serve`, `gc --data`): the CLI prints the failure its own way
  if (await reportFailureToParent(message ?? (err as Error).message ?? String(err), (err as Error).stack)) process.exit(1);
  process.stderr.write(`registry: ${message ?? (err as Error).stack}\n`);
  process.exit(1);
}
