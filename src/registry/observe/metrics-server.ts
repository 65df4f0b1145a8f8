import http from 'node:http';
import type { RegistryMetrics } from './metrics.js';

/**
 * `/metrics` on its own listener, so that nginx, which publishes only the registry's port, never
 * exposes it; anything else there is a 404.
 */
export async function startMetricsServer(metrics: RegistryMetrics, listen: { host: string; port: number }, log: (line: string) => void): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('metrics are at GET /metrics\n');
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
      (err: Error) => {
        log(`metrics: ${err.message}`);
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics failed; see the registry log\n');
      },
    );
  });
  server.keepAliveTimeout = 75_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
