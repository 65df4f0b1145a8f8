import type { Command } from 'commander';
import { IMAGE_COMMANDS } from '../host/contract.js';
import { runPayload } from '../ops/payload.js';
import { serveCommand } from '../registry/serve-command.js';
import { givenOptionArgs } from './payload-args.js';

/**
 * `serve`: the payload's own flags and help; the registry itself runs in the payload bundle, in a
 * child process (src/ops/payload.ts), which ends the way the child ends.
 */
export function serveCliCommand(): Command {
  return serveCommand(async (_flags, command) => {
    const run = await runPayload([IMAGE_COMMANDS.serve, ...givenOptionArgs(command)]);
    if (run.code !== 0) process.exitCode = run.code;
  });
}
