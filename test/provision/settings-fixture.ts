// The deployment settings the plan and file tests start from (one host, self-signed TLS), and a
// users file: one fixture, so that the tests of the files and of the plans describe the same host.
import type { DeploySettings } from '../../src/settings/settings.js';

export const DEPLOY_SETTINGS: DeploySettings = {
  target: 'deploy@203.0.113.10',
  domain: 'registry.example.com',
  user: 'admin',
  tls: 'self-signed',
  httpPort: 80,
  httpsPort: 443,
  dir: '/opt/registry-setup',
  dataDir: '/srv/registry',
  nodeImage: 'node:22-bookworm-slim',
  nginxImage: 'nginx:1.27-alpine',
};

/** One bcrypt line (not a real password's hash: nothing verifies it here). */
export const HTPASSWD = 'admin:$2y$10$abcdefghijklmnopqrstuu5Ilz0S3ZQkP3v1mG8t8fV1l8K0kQj7m\n';
