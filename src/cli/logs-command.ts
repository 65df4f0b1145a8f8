import { Command, Option } from 'commander';
import { eachDeployment, withDeployments, type DeploymentFlags } from '../ops/deployment.js';
import { addDeploymentOptions } from './host-options.js';
import { checkLogsOptions, linePrefixer, LOG_SERVICES, streamLogs, type LogService, type LogSink } from '../ops/logs.js';
import { Output, printResult } from '../console/output.js';

interface LogsFlags extends DeploymentFlags {
  service?: LogService;
  follow?: boolean;
  since?: string;
  tail?: string;
}

/**
 * `logs [targets...] [--service registry|nginx] [--follow] [--since 1h] [--tail N]`; Ctrl-C ends
 * --follow with exit 0. Several hosts: side by side, each line prefixed with its host.
 */
export function logsCommand(): Command {
  return addDeploymentOptions(
    new Command('logs')
      .description("print the containers' logs (compose logs); Ctrl-C ends --follow")
      .argument('[targets...]', "user@host[:port] or a Host alias from ~/.ssh/config; several, or none for the --config file's")
      .addOption(new Option('--service <name>', 'only this service').choices([...LOG_SERVICES]))
      .option('-f, --follow', 'keep printing new lines until Ctrl-C')
      .option('--since <when>', 'only lines since a duration ago (1h, 30m) or a time (2024-05-01T10:00:00Z)')
      .option('--tail <n>', 'lines per container from the end, or "all"', '200'),
  ).action(async (targets: string[], flags: LogsFlags) => {
    const options = checkLogsOptions({ service: flags.service, follow: flags.follow, since: flags.since, tail: flags.tail });
    const output = new Output({ json: flags.json });
    await withDeployments(targets, flags, output, 'logs', async (ds) => {
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const results = await eachDeployment(ds, async (d) => {
          const text: LogSink = (chunk, stream) => void (stream === 'stderr' ? process.stderr : process.stdout).write(chunk);
          const lines = output.json
            ? linePrefixer('', (chunk, stream) => {
                for (const line of chunk.split('\n').slice(0, -1)) d.output.event('log', { stream, line });
              })
            : ds.length > 1
              ? linePrefixer(`[${d.label}] `, text)
              : { write: text, flush: () => {} };
          const r = await streamLogs(d, options, lines.write, stop.signal);
          lines.flush();
          if (!r.aborted && r.code !== 0) throw new Error(`the logs command on ${d.hostName} exited with code ${r.code}`);
          return { host: d.label, result: { stopped: r.aborted } };
        });
        printResult(output, results, ds.length > 1);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
  });
}
