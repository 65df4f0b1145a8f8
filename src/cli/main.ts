import { Command, CommanderError } from 'commander';
import { describeStartupError, serveCommand } from '../registry/serve-command.js';
import { VERSION } from '../version.js';
import { deployCommand } from './deploy-command.js';
import { certsCommand } from './certs-command.js';
import { gcCliCommand } from './gc-command.js';
import { usersCommand } from './users-command.js';
import { statusCommand } from './status-command.js';
import { logsCommand } from './logs-command.js';
import { upgradeCommand } from './upgrade-command.js';
import { destroyCommand } from './destroy-command.js';
import { describeFailure } from './output.js';

function program(): Command {
  return new Command('registry-setup')
    .description('Your own private container registry on a server you own, in one command.')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addCommand(deployCommand(), { isDefault: true })
    .addCommand(certsCommand())
    .addCommand(serveCommand())
    .addCommand(gcCliCommand())
    .addCommand(usersCommand())
    .addCommand(statusCommand())
    .addCommand(logsCommand())
    .addCommand(upgradeCommand())
    .addCommand(destroyCommand());
}

/** One line a user can act on; the stack only with REGISTRY_SETUP_DEBUG=1. */
export function describeError(err: unknown): string {
  const startup = describeStartupError(err);
  if (startup) return startup;
  return describeFailure(err);
}

export async function main(argv: string[]): Promise<number> {
  const cli = program();
  if (argv.length <= 2) {
    cli.outputHelp({ error: true });
    return 1;
  }
  try {
    await cli.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`registry-setup: ${describeError(err)}\n`);
    const hint = (err as { hint?: string }).hint;
    if (hint) process.stderr.write(`${hint}\n`);
    if (process.env.REGISTRY_SETUP_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}
