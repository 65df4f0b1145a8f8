// `logs`: the containers' output through `compose logs`, streamed over SSH.
import { composeArgv, type Argv, type ComposeTarget } from '../provision/index.js';
import type { StreamName } from '../remote/index.js';
import type { Deployment } from './deployment.js';
import { OpsError } from './errors.js';

export const LOG_SERVICES = ['registry', 'nginx'] as const;
export type LogService = (typeof LOG_SERVICES)[number];

export interface LogsOptions {
  service?: LogService;
  follow?: boolean;
  /** docker's --since: a duration (1h, 30m, 1h30m) or a timestamp (2024-05-01, 2024-05-01T10:00:00Z) */
  since?: string;
  /** lines per container from the end, or 'all' */
  tail?: string;
}

export class LogsError extends OpsError {}

const DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;

export function checkLogsOptions(o: LogsOptions): LogsOptions {
  if (o.service !== undefined && !LOG_SERVICES.includes(o.service)) throw new LogsError(`--service must be one of ${LOG_SERVICES.join(', ')}, not "${o.service}"`);
  if (o.since !== undefined && !DURATION.test(o.since) && !TIMESTAMP.test(o.since) && !/^\d+$/.test(o.since)) {
    throw new LogsError(`--since "${o.since}": give a duration like 1h or 30m, or a time like 2024-05-01T10:00:00Z`);
  }
  if (o.tail !== undefined && o.tail !== 'all' && !/^\d+$/.test(o.tail)) throw new LogsError(`--tail "${o.tail}": give a number of lines or "all"`);
  return o;
}

/** `compose logs --no-color [--follow] [--tail N] [--since T] [service]` */
export function composeLogsArgv(target: ComposeTarget, o: LogsOptions): Argv {
  const args = ['logs', '--no-color'];
  if (o.follow) args.push('--follow');
  if (o.tail !== undefined) args.push('--tail', o.tail);
  if (o.since !== undefined) args.push('--since', o.since);
  if (o.service) args.push(o.service);
  // compose v1 is Python: unbuffered, so that --follow shows lines as they come through a pipe
  const argv = composeArgv(target, ...args);
  return target.kind === 'v1' ? ['env', 'PYTHONUNBUFFERED=1', ...argv] : argv;
}

/** `docker logs …` of one container (compose v1 has no --since; docker has). */
export function dockerLogsArgv(container: string, o: LogsOptions): Argv {
  const args = ['docker', 'logs'];
  if (o.follow) args.push('--follow');
  if (o.tail !== undefined) args.push('--tail', o.tail);
  if (o.since !== undefined) args.push('--since', o.since);
  return [...args, container];
}

/**
 * Ends a following command when the SSH channel goes away. sshd neither forwards our signal for
 * root logins nor kills the command when the channel closes; the command would only notice on its
 * next write. A sibling writes a NUL byte to stderr every second (the reader drops them); once the
 * channel is gone that write fails and it terminates the whole process group.
 */
const FOLLOW_WATCHDOG = [
  `( trap '' PIPE; while sleep 1; do printf '\\000' >&2 || kill -TERM 0; done ) &`,
  'hb=$!',
  '"$@"',
  'rc=$?',
  'kill "$hb" 2>/dev/null',
  'exit "$rc"',
].join('\n');

export function withFollowWatchdog(argv: Argv): Argv {
  return ['sh', '-c', FOLLOW_WATCHDOG, 'registry-setup-logs', ...argv];
}

export interface LogSink {
  (text: string, stream: StreamName): void;
}

/** Splits chunks into lines and puts a prefix in front of each (for several containers at once). */
export function linePrefixer(prefix: string, sink: LogSink): { write: LogSink; flush: () => void } {
  const pending: Record<StreamName, string> = { stdout: '', stderr: '' };
  return {
    write: (text, stream) => {
      const all = pending[stream] + text;
      const cut = all.lastIndexOf('\n') + 1;
      pending[stream] = all.slice(cut);
      if (cut === 0) return;
      const lines = all.slice(0, cut - 1).split('\n');
      sink(lines.map((l) => `${prefix}${l}\n`).join(''), stream);
    },
    flush: () => {
      for (const stream of ['stdout', 'stderr'] as const) {
        if (pending[stream]) sink(`${prefix}${pending[stream]}\n`, stream);
        pending[stream] = '';
      }
    },
  };
}

/**
 * Streams the logs to sink until they end or signal aborts (then resolves, not rejects). With
 * compose v1 and --since, each container's `docker logs` runs side by side, lines prefixed with the service.
 */
export async function streamLogs(d: Deployment, o: LogsOptions, sink: LogSink, signal: AbortSignal): Promise<{ code: number; aborted: boolean }> {
  const target = await d.composeTarget();
  const wrap = (argv: Argv) => (o.follow ? withFollowWatchdog(argv) : argv);
  // the watchdog's heartbeat bytes are not output
  const clean = (write: LogSink): LogSink => (text, stream) => {
    const t = stream === 'stderr' ? text.replaceAll('\0', '') : text;
    if (t) write(t, stream);
  };
  if (target.kind === 'v2' || o.since === undefined) {
    return d.host.execStream(wrap(composeLogsArgv(target, o)), clean(sink), { sudo: true, signal });
  }
  const containers = (await d.containers()).filter((c) => (o.service ? c.service === o.service : LOG_SERVICES.includes(c.service as LogService)));
  if (containers.length === 0) throw new LogsError(`no ${o.service ?? 'registry or nginx'} container on ${d.hostName} (run registry-setup deploy)`);
  const width = Math.max(...containers.map((c) => c.service.length));
  const results = await Promise.all(
    containers.map(async (c) => {
      // one stream, as compose logs prints it (docker logs keeps the container's stderr apart)
      const prefixer = linePrefixer(`${c.service.padEnd(width)} | `, (text) => sink(text, 'stdout'));
      try {
        return await d.host.execStream(wrap(dockerLogsArgv(c.id, o)), clean(prefixer.write), { sudo: true, signal });
      } finally {
        prefixer.flush();
      }
    }),
  );
  return { code: results.find((r) => r.code !== 0)?.code ?? 0, aborted: results.some((r) => r.aborted) };
}
