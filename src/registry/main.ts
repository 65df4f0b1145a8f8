// Entry point of the image payload (dist/registry.mjs): `node registry.mjs serve`, with distribution's
// environment variables honoured, so a registry:2 compose file runs it unchanged.
import { Command, CommanderError } from 'commander';
import { describeStartupError, serveCommand } from './serve-command.js';
import { healthcheckCommand } from './healthcheck-command.js';
import { gcCommand } from './gc/gc-command.js';

const program = new Command('registry')
  .description('registry-setup registry payload')
  .exitOverride()
  .addCommand(serveCommand(), { isDefault: true })
  .addCommand(healthcheckCommand())
  .addCommand(gcCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const message = describeStartupError(err);
  process.stderr.write(`registry: ${message ?? (err as Error).stack}\n`);
  process.exit(1);
}
