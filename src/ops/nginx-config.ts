// Reads the parts of an nginx configuration (as `nginx -T` prints it, includes inlined) that adopt
// needs: each server's names, listen ports, certificate files and where it proxies to. A small
// tokenizer of nginx's syntax (words, quotes, comments, `;`, blocks), not a full parser: directives
// it does not know are kept as words and ignored.

export interface NginxDirective {
  name: string;
  args: string[];
  block?: NginxDirective[];
}

export interface NginxListen {
  port: number;
  ssl: boolean;
  address?: string;
}

export interface NginxServer {
  names: string[];
  listens: NginxListen[];
  certificate?: string;
  certificateKey?: string;
  /** the `host:port` each proxy_pass of the server reaches, upstreams resolved */
  proxiesTo: string[];
}

export class NginxConfigError extends Error {}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (/\s/.test(ch)) i++;
    else if (ch === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (ch === ';' || ch === '{' || ch === '}') {
      tokens.push(ch);
      i++;
    } else if (ch === '"' || ch === "'") {
      let j = i + 1;
      let word = '';
      while (j < text.length && text[j] !== ch) {
        if (text[j] === '\\' && j + 1 < text.length) j++;
        word += text[j];
        j++;
      }
      tokens.push(word);
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && !/[\s;{}]/.test(text[j]!) && !(text[j] === '#' && j === i)) j++;
      tokens.push(text.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

/** The directive tree of a configuration. */
export function parseNginx(text: string): NginxDirective[] {
  const tokens = tokenize(text);
  let pos = 0;
  const block = (nested: boolean): NginxDirective[] => {
    const out: NginxDirective[] = [];
    let words: string[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos++]!;
      if (t === ';') {
        if (words.length) out.push({ name: words[0]!, args: words.slice(1) });
        words = [];
      } else if (t === '{') {
        const d: NginxDirective = { name: words[0] ?? '', args: words.slice(1), block: [] };
        d.block = block(true);
        out.push(d);
        words = [];
      } else if (t === '}') {
        if (!nested) throw new NginxConfigError('unbalanced } in the nginx configuration');
        return out;
      } else words.push(t);
    }
    if (nested) throw new NginxConfigError('a block of the nginx configuration is not closed');
    return out;
  };
  return block(false);
}

function parseListen(args: string[]): NginxListen | undefined {
  const where = args[0];
  if (!where || where.startsWith('unix:')) return undefined;
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+)$/.exec(where) ?? /^()(\d+)$/.exec(where);
  const port = m ? Number(m[2]) : /^[\w.-]+$/.test(where) ? 80 : NaN;
  if (!Number.isInteger(port)) return undefined;
  return { port, ssl: args.includes('ssl') || args.includes('quic'), ...(m?.[1] ? { address: m[1] } : {}) };
}

/** `http://name:5000/path` → `name:5000`; default ports by scheme. */
function proxyTarget(url: string, upstreams: Map<string, string[]>): string[] {
  const m = /^(https?):\/\/([^/$]+)/.exec(url);
  if (!m) return [];
  const host = m[2]!;
  const up = upstreams.get(host);
  if (up) return up;
  return [host.includes(':') ? host : `${host}:${m[1] === 'https' ? 443 : 80}`];
}

function collect(ds: NginxDirective[], name: string): NginxDirective[] {
  return ds.flatMap((d) => [...(d.name === name ? [d] : []), ...(d.block ? collect(d.block, name) : [])]);
}

/** The servers of the configuration's http block(s). */
export function nginxServers(text: string): NginxServer[] {
  const tree = parseNginx(text);
  const http = tree.filter((d) => d.name === 'http');
  const upstreams = new Map<string, string[]>();
  for (const u of http.flatMap((h) => collect(h.block ?? [], 'upstream'))) {
    const servers = (u.block ?? []).filter((d) => d.name === 'server').map((d) => d.args[0] ?? '');
    upstreams.set(u.args[0] ?? '', servers.map((s) => (s.includes(':') ? s : `${s}:80`)));
  }
  const servers = http.flatMap((h) => (h.block ?? []).filter((d) => d.name === 'server' && d.block));
  return servers.map((s) => {
    const own = s.block!;
    const first = (n: string) => own.find((d) => d.name === n)?.args[0];
    const cert = first('ssl_certificate');
    const key = first('ssl_certificate_key');
    return {
      names: own.filter((d) => d.name === 'server_name').flatMap((d) => d.args),
      listens: own.filter((d) => d.name === 'listen').map((d) => parseListen(d.args)).filter((l): l is NginxListen => l !== undefined),
      ...(cert ? { certificate: cert } : {}),
      ...(key ? { certificateKey: key } : {}),
      proxiesTo: [...new Set(collect(own, 'proxy_pass').flatMap((d) => proxyTarget(d.args[0] ?? '', upstreams)))],
    };
  });
}
