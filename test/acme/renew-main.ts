// Test-only entry point: the renew command wired the way src/registry/main.ts wires its commands,
// so the renew tests run it as a real process (`node --import tsx test/acme/renew-main.ts renew ...`).
import { Command, CommanderError } from 'commander';
import { renewCommand } from '../../src/acme/renew-command.js';

const program = new Command('registry').exitOverride().addCommand(renewCommand().exitOverride());
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  process.stderr.write(`registry: ${(err as Error).stack}\n`);
  process.exit(1);
}
