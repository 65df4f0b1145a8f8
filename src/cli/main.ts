import { Command, CommanderError } from 'commander';
import { describeStartupError, serveCommand } from '../registry/serve-command.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('registry-setup')
    .description('Your own private container registry on a server you own, in one command.')
    .exitOverride()
    .addCommand(serveCommand());
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const message = describeStartupError(err);
    process.stderr.write(`registry-setup: ${message ?? (err as Error).stack}\n`);
    return 1;
  }
}
