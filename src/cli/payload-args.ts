import type { Command } from 'commander';

/**
 * The options a user gave on the command line, as arguments for the payload's command of the same
 * flags: `--name=value` (one per value of a repeatable option, in order), `--flag`, `--no-flag`.
 * Defaults are left out: the payload applies its own, and its environment variables come after flags.
 */
export function givenOptionArgs(command: Command): string[] {
  const args: string[] = [];
  for (const option of command.options) {
    const key = option.attributeName();
    if (command.getOptionValueSource(key) !== 'cli' || !option.long) continue;
    const value: unknown = command.getOptionValue(key);
    if (typeof value === 'boolean') {
      // `--no-x` sets false, `--x` sets true; an option given both ways ends as its last word
      if (value !== !option.negate) continue;
      args.push(option.long);
      continue;
    }
    for (const v of Array.isArray(value) ? value : [value]) args.push(`${option.long}=${String(v)}`);
  }
  return args;
}
