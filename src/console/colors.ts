// Progress, results and errors go to stderr, so the shared chalk instance follows stderr's
// terminal; the few reports printed on stdout (status, certs status) use `stdoutColors`.
// NO_COLOR (non-empty) turns both off.
import chalk, { Chalk, supportsColor, supportsColorStderr, type ChalkInstance } from 'chalk';

const noColor = (): boolean => process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';

export let stdoutColors: ChalkInstance = new Chalk({ level: 0 });

/** Called once at start-up, before anything is printed. */
export function configureColors(): void {
  chalk.level = noColor() || !supportsColorStderr ? 0 : supportsColorStderr.level;
  stdoutColors = new Chalk({ level: noColor() || !supportsColor ? 0 : supportsColor.level });
}
