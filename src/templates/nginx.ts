// nginx.conf of the deployment, assembled from the templates' pieces.
import { BLOB_BYTES_LOCATION, CONTAINER_PATHS, NGINX_HTTP_PORT, NGINX_HTTPS_PORT, REGISTRY_PORT } from '../host/contract.js';
import { isAcmePeer, isHostName } from '../settings/rules.js';
import { TemplateError, renderTemplate } from './engine.js';
import { validatePort } from './validate.js';


/**
 * `https`: port 8080 serves ACME challenges and redirects the rest to https; port 8443 proxies the
 * registry. `http-only`: before any certificate exists (Let's Encrypt bootstrap): only port 8080,
 * ACME challenges, and 503 for everything else; no TLS files are read.
 */
export type NginxMode = 'https' | 'http-only';

export interface NginxConfOptions {
  mode: NginxMode;
  domain: string;
  /** the host's public https port, for the redirect (`:port` is added unless 443) */
  httpsPort: number;
  /** Overrides of in-container paths and ports: only for testing the file with a host nginx. */
  paths?: Partial<{ tlsDir: string; webroot: string; tempDir: string }>;
  listen?: Partial<{ http: number; https: number; fallback: number }>;
  upstream?: Partial<{ host: string; port: number }>;
  /**
   * Where nginx finds the registry's data directory (read-only) to send blob bytes itself when the
   * registry answers a blob GET with `X-Accel-Redirect` (filesystem storage only); absent: the
   * registry sends them (a bucket).
   */
  blobBytesDir?: string;
  /**
   * The other hosts behind the same name (`address:port` of their HTTP listeners): a challenge
   * token this host has no file for is asked from them (acmePeersUpstream).
   */
  acmePeers?: readonly string[];
}

/** nginx's own listener for the by-name fallback to the registry (inside the nginx container). */
export const NGINX_FALLBACK_PORT = 8081;

/**
 * nginx sends a blob's bytes from disk with sendfile. The registry has decided everything first
 * (authorisation, the repository link, a Range it cannot satisfy) and names the file, built from a
 * verified digest only; `internal` keeps clients from naming files themselves. nginx carries
 * Content-Type and Cache-Control over from the registry's answer by itself; Docker-Content-Digest
 * and ETag are added (nginx's own ETag, from the file's time, is off).
 */
function blobBytesLocation(dir: string): string {
  return [
    '',
    `        location ^~ ${BLOB_BYTES_LOCATION} {`,
    '            internal;',
    `            alias ${dir.replace(/\/+$/, '')}/;`,
    '            sendfile on;',
    '            tcp_nopush on;',
    '            etag off;',
    '            types { }',
    '            default_type application/octet-stream;',
    '            # a blob removed by garbage collection after the registry answered',
    '            error_page 404 = @blob_unknown;',
    '            add_header Docker-Distribution-Api-Version registry/2.0 always;',
    '            add_header Docker-Content-Digest $upstream_http_docker_content_digest;',
    '            add_header ETag $upstream_http_etag;',
    '        }',
    '',
    '        location @blob_unknown {',
    '            default_type application/json;',
    '            add_header Docker-Distribution-Api-Version registry/2.0 always;',
    '            return 404 \'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}\';',
    '        }',
  ].join('\n');
}

/** The header a forwarded challenge request carries: a host never forwards such a request again. */
export const ACME_FORWARDED_HEADER = 'X-Registry-Setup-Acme-Forwarded';

/**
 * Several hosts, each ordering its own certificate for the shared name: the CA may validate any
 * order through any host. A token not in this host's webroot is asked from each peer in turn (a
 * 404 or an unreachable peer moves on to the next); the forwarded request is marked, and a marked
 * request that misses is answered 404 at once, so a request crosses at most one hop.
 */
function acmePeersUpstream(peers: readonly string[]): string {
  return [
    '    # The other hosts behind the same name, asked for ACME challenge tokens this host lacks.',
    '    upstream acme_peers {',
    ...peers.map((p) => `        server ${p} max_fails=0;`),
    '    }',
    '',
  ].join('\n');
}

function acmePeersLocation(peers: readonly string[]): string {
  const header = `$http_${ACME_FORWARDED_HEADER.toLowerCase().replace(/-/g, '_')}`;
  return [
    '',
    '        # a token of another host\'s order (see the upstream acme_peers)',
    '        location @acme_peers {',
    `            if (${header}) {`,
    '                return 404;',
    '            }',
    '            proxy_pass http://acme_peers;',
    '            proxy_set_header Host $host;',
    `            proxy_set_header ${ACME_FORWARDED_HEADER} 1;`,
    '            proxy_next_upstream error timeout http_404 http_502 http_503 http_504;',
    `            proxy_next_upstream_tries ${peers.length};`,
    '            proxy_next_upstream_timeout 20s;',
    '            proxy_connect_timeout 3s;',
    '            proxy_read_timeout 5s;',
    '        }',
  ].join('\n');
}

export function buildNginxConf(opts: NginxConfOptions): string {
  // the domain and the HTTPS port are settings (checked by src/settings/resolve.ts); the rest is not
  const { domain, httpsPort } = opts;
  const tlsDir = opts.paths?.tlsDir ?? CONTAINER_PATHS.tlsDir;
  const webroot = opts.paths?.webroot ?? CONTAINER_PATHS.webroot;
  const tempDir = opts.paths?.tempDir ?? CONTAINER_PATHS.temp;
  for (const [what, p] of [['tlsDir', tlsDir], ['webroot', webroot], ['tempDir', tempDir]] as const) {
    if (!p.startsWith('/') || /[\s;{}'"$]/.test(p)) throw new TemplateError(`nginx ${what}: "${p}" must be an absolute path without spaces, quotes, ';', '{', '}' or '$'`);
  }
  const httpListenPort = validatePort(opts.listen?.http ?? NGINX_HTTP_PORT, 'nginx http listen port');
  const httpsListenPort = validatePort(opts.listen?.https ?? NGINX_HTTPS_PORT, 'nginx https listen port');
  const upstreamHost = opts.upstream?.host ?? 'registry';
  if (!isHostName(upstreamHost)) throw new TemplateError(`nginx upstream host "${upstreamHost}" is not a host name`);
  const upstreamPort = validatePort(opts.upstream?.port ?? REGISTRY_PORT, 'upstream port');
  const fallbackPort = validatePort(opts.listen?.fallback ?? NGINX_FALLBACK_PORT, 'nginx fallback listen port');
  if (opts.blobBytesDir !== undefined && (!opts.blobBytesDir.startsWith('/') || /[\s;{}'"$]/.test(opts.blobBytesDir))) {
    throw new TemplateError(`nginx blob directory "${opts.blobBytesDir}" must be an absolute path without spaces, quotes, ';', '{', '}' or '$'`);
  }

  const peers = opts.acmePeers ?? [];
  for (const p of peers) if (!isAcmePeer(p)) throw new TemplateError(`nginx ACME peer "${p}" is not address:port`);
  const acme = {
    acmeMiss: peers.length ? '@acme_peers' : '=404',
    acmePeersLocation: peers.length ? acmePeersLocation(peers) : '',
  };

  const servers: string[] = [];
  if (opts.mode === 'https') {
    const portSuffix = httpsPort === 443 ? '' : `:${httpsPort}`;
    servers.push(
      renderTemplate('nginx-http-server.tmpl', {
        fallbackComment: 'everything else is redirected to https.',
        httpListenPort,
        domain,
        webroot,
        ...acme,
        fallback: `            return 301 https://$host${portSuffix}$request_uri;`,
      }),
      renderTemplate('nginx-https-server.tmpl', {
        httpsListenPort,
        domain,
        tlsDir,
        blobBytesLocation: opts.blobBytesDir === undefined ? '' : blobBytesLocation(opts.blobBytesDir),
      }),
    );
  } else if (opts.mode === 'http-only') {
    servers.push(
      renderTemplate('nginx-http-server.tmpl', {
        fallbackComment: 'no certificate yet, so the registry is not served (503).',
        httpListenPort,
        domain,
        webroot,
        ...acme,
        fallback: [
          '            default_type text/plain;',
          '            return 503 "registry-setup: this registry has no TLS certificate yet\\n";',
        ].join('\n'),
      }),
    );
  } else {
    throw new TemplateError(`unknown nginx mode "${String(opts.mode)}"`);
  }
  return renderTemplate('nginx.conf.tmpl', {
    tempDir,
    upstream:
      (peers.length ? acmePeersUpstream(peers) : '') +
      (opts.mode === 'https' ? `${renderTemplate('nginx-upstream.tmpl', { upstreamHost, upstreamPort, fallbackPort }).replace(/\n+$/, '')}\n` : ''),
    servers: servers.map((s) => s.replace(/\n+$/, '')).join('\n\n'),
  });
}
