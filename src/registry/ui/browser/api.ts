// The page's calls to the registry's UI API (relative URLs under ui/api/) and the shapes of its
// answers, as the page uses them. No credentials are kept here: the session is an HttpOnly cookie.
import type { ConfigSummary, PlatformEntry, StorageSummary } from '../api-types.js';

// declared once, beside the server code that builds them
export type { ConfigSummary, PlatformEntry, StorageSummary };

export interface Session {
  authRequired: boolean;
  user: string | null;
  readOnly?: boolean;
  deleteEnabled?: boolean;
  canDelete?: boolean;
}

/** One page of a filtered list. */
export interface ListPage<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
  /** the filter applied, when one was */
  q?: string;
}

export interface RepositoryItem {
  name: string;
  tags: number;
  size: number;
  /** the size was summed over only part of the tags: a lower bound */
  sizePartial?: boolean;
  /** set for a pull-through cache of an upstream registry (serve --mirror) */
  mirror?: { prefix: string; upstream: string };
}

export interface TagItem {
  tag: string;
  /** null when the tag points at a missing manifest */
  digest: string | null;
  kind: string;
  artifactType?: string | null;
  size: number;
  created?: string | null;
  platforms: string[];
}

export interface TagPage extends ListPage<TagItem> {
  canDelete: boolean;
  pullHost: string;
}

export interface LayerEntry {
  digest: string;
  mediaType: string;
  size: number;
}

export interface ReferrerEntry {
  digest: string;
  mediaType: string;
  artifactType?: string | null;
  created?: string | null;
  size: number;
  tags: string[];
}

export interface ManifestDetails {
  repo: string;
  /** the tag it was opened by; absent when opened by digest */
  tag?: string | null;
  digest: string;
  kind: string;
  artifactType?: string | null;
  mediaType: string;
  size: number;
  created?: string | null;
  tags: string[];
  subject?: { digest: string } | null;
  pullHost: string;
  canDelete: boolean;
  platforms: PlatformEntry[];
  config?: ConfigSummary | null;
  layers: LayerEntry[];
  referrers: ReferrerEntry[];
}

export class ApiError extends Error {
  /** the page has already dealt with it (a 401 that showed the sign-in form) */
  handled = false;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What the page does when the session ends under it (a 401 on any call but a sign-in). */
let onSignedOut: () => void = () => {};

export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

interface CallOptions {
  method?: string;
  body?: unknown;
  /** a 401 is the answer itself (a sign-in, or asking whether there is a session) */
  signingIn?: boolean;
}

export async function api<T>(path: string, options?: CallOptions): Promise<T> {
  const opts = options || {};
  const headers: Record<string, string> = { Accept: 'application/json' };
  const init: RequestInit = { method: opts.method || 'GET', headers, credentials: 'same-origin', cache: 'no-store' };
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch('ui/api/' + path, init);
  } catch (e) {
    throw new ApiError(0, 'NETWORK', 'the registry did not answer (' + (e as Error).message + ')');
  }
  let data: { errors?: { code: string; message: string }[] } | null = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (res.ok) return data as T;
  const first = data && data.errors && data.errors[0];
  const err = new ApiError(res.status, first ? first.code : 'HTTP_' + res.status, first ? first.message : res.status + ' ' + res.statusText);
  if (res.status === 401 && !opts.signingIn) {
    onSignedOut();
    err.handled = true;
  }
  throw err;
}

/** The message of anything a call threw, and whether the page dealt with it already. */
export function failure(e: unknown): { message: string; status: number; handled: boolean } {
  if (e instanceof ApiError) return { message: e.message, status: e.status, handled: e.handled };
  return { message: e instanceof Error ? e.message : String(e), status: 0, handled: false };
}
