import { Command, CommanderError } from 'commander';
import { describeStartupError } from '../registry/serve-command.js';
import { serveCliCommand } from './serve-command.js';
import { VERSION } from '../version.js';
import { deployCommand } from './deploy-command.js';
import { certsCommand } from './certs-command.js';
import { gcCliCommand } from './gc-command.js';
import { usersCommand } from './users-command.js';
import { statusCommand } from './status-command.js';
import { logsCommand } from './logs-command.js';
import { upgradeCommand } from './upgrade-command.js';
import { destroyCommand } from './destroy-command.js';
import { describeFailure, Output } from '../console/output.js';
import { configureColors } from '../console/colors.js';
import { misspelledCommand } from './command-typo.js';
import { adoptCommand } from './adopt-command.js';
import { retentionCliCommand } from './retention-command.js';
import { accessCommand } from './access-command.js';
import { tokensCommand } from './tokens-command.js';
import { backupCliCommand, restoreCliCommand } from './backup-command.js';
import { migrateCliCommand } from './migrate-command.js';

function program(): Command {
  const root = new Command('registry-setup')
    .description('Your own private container registry on a server you own, in one command.')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addCommand(deployCommand(), { isDefault: true })
    .addCommand(certsCommand())
    .addCommand(serveCliCommand())
    .addCommand(gcCliCommand())
    .addCommand(usersCommand())
    .addCommand(statusCommand())
    .addCommand(logsCommand())
    .addCommand(upgradeCommand())
    .addCommand(destroyCommand())
    .addCommand(adoptCommand())
    .addCommand(retentionCliCommand())
    .addCommand(accessCommand())
    .addCommand(tokensCommand())
    .addCommand(backupCliCommand())
    .addCommand(restoreCliCommand())
    .addCommand(migrateCliCommand());
  // addCommand does not pass these on: without them a subcommand's parse error exits the process
  // from inside commander, before main can add the --json error document
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(root)) c.exitOverride().showHelpAfterError('(run with --help for usage)');
  return root;
}

/** One line a user can act on; the stack only with REGISTRY_SETUP_DEBUG=1. */
export function describeError(err: unknown): string {
  const startup = describeStartupError(err);
  if (startup) return startup;
  return describeFailure(err);
}

export async function main(argv: string[]): Promise<number> {
  configureColors();
  const cli = program();
  if (argv.length <= 2) {
    cli.outputHelp({ error: true });
    return 1;
  }
  try {
    const first = argv[2]!;
    const meant = misspelledCommand(first, [...cli.commands.map((c) => c.name()), 'help']);
    if (meant) {
      throw new CommanderError(1, 'registry-setup.misspelledCommand', `unknown command '${first}' (did you mean ${meant}?); to deploy to a host named ${first}, say: registry-setup deploy ${first}`);
    }
    await cli.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    const json = wantsJson(argv);
    if (err instanceof CommanderError) {
      if (err.code === 'registry-setup.misspelledCommand') process.stderr.write(`registry-setup: ${err.message}\n`);
      // otherwise commander has printed its own line on stderr
      if (json && err.exitCode !== 0) writeJsonError(err.message.replace(/^error: /, ''));
      return err.exitCode;
    }
    process.stderr.write(`registry-setup: ${describeError(err)}\n`);
    const hint = (err as { hint?: string }).hint;
    if (hint) process.stderr.write(`${hint}\n`);
    if (json) writeJsonError(describeError(err), hint);
    if (process.env.REGISTRY_SETUP_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}

/** Before `--`, everything after which is somebody else's argument. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * A script reading stdout with --json gets a document on failure too: the same shape as the
 * progress events (`type`, `time`), so a stream of events ends with it and a one-document command
 * prints only it.
 */
function writeJsonError(message: string, hint?: string): void {
  new Output({ json: true }).event('error', { error: message, ...(hint ? { hint } : {}) });
}
