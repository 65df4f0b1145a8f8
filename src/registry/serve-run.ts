// What the payload's `serve` does once its flags are read: start the registry in the foreground and
// stop it cleanly on SIGINT/SIGTERM. Kept apart from serve-command.ts (flags and help), which the
// CLI shares without loading the server.
import { configFromFlags, batchedLines, type ServeFlags } from './serve-command.js';
import type { RegistryConfig } from './config.js';
import { startRegistry } from './server.js';

export async function serveFromFlags(flags: ServeFlags): Promise<void> {
  await serve(configFromFlags(flags, process.env));
}

async function serve(config: RegistryConfig): Promise<void> {
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const accessLog = config.accessLog ? batchedLines((text) => process.stdout.write(text)) : undefined;
  const running = await startRegistry(config, log, { accessLog });
  const auth = config.htpasswd ? `htpasswd ${config.htpasswd}${config.accessFile ? `, access ${config.accessFile}` : ''}${config.tokensFile ? `, tokens ${config.tokensFile}` : ''}` : 'no auth';
  process.stdout.write(`registry listening on ${running.url} (data ${running.registry.driver.describe()}, ${auth})\n`);
  if (running.metricsUrl) process.stdout.write(`metrics at ${running.metricsUrl}/metrics\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: finishing in-flight requests`);
    void running.close().then(() => {
      accessLog?.flush();
      log('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
