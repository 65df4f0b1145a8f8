import http from 'node:http';
import { Command } from 'commander';
import { DEFAULT_CONFIG, configFromEnv } from './config.js';

/** `healthcheck`: for the container's HEALTHCHECK, so the image needs no curl. Healthy = /v2/ answers 200 or 401. */
export function healthcheckCommand(): Command {
  return new Command('healthcheck')
    .description('exit 0 when the local registry answers /v2/ (for container health checks)')
    .option('--url <url>', 'registry base URL (default from REGISTRY_HTTP_ADDR)')
    .option('--timeout <ms>', 'give up after this many milliseconds', '3000')
    .action(async (flags: { url?: string; timeout: string }) => {
      const config = { ...DEFAULT_CONFIG, ...configFromEnv(process.env) };
      const host = !config.host || config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
      const url = flags.url ?? `http://${host.includes(':') ? `[${host}]` : host}:${config.port}/v2/`;
      const status = await new Promise<number>((resolve) => {
        const req = http.get(url, { timeout: Number(flags.timeout) }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve(0));
      });
      if (status !== 200 && status !== 401) {
        process.stderr.write(`unhealthy: ${url} answered ${status || 'nothing'}\n`);
        process.exitCode = 1;
      }
    });
}
