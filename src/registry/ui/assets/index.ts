import { createHash } from 'node:crypto';
import { PAGE_HTML } from './page.js';
import { APP_CSS } from './styles.js';
import { APP_JS } from './script.js';
import { ICON_SVG } from './icon.js';

export interface Asset {
  type: string;
  body: Buffer;
  /** Strong validator: the content's hash (assets change only with the payload). */
  etag: string;
}

function asset(type: string, text: string): Asset {
  const body = Buffer.from(text, 'utf8');
  return { type, body, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` };
}

/** Everything the page loads, by URL path; bundled into the payload, nothing from elsewhere. */
export const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ['/', asset('text/html; charset=utf-8', PAGE_HTML)],
  ['/ui/app.js', asset('text/javascript; charset=utf-8', APP_JS)],
  ['/ui/app.css', asset('text/css; charset=utf-8', APP_CSS)],
  ['/ui/icon.svg', asset('image/svg+xml', ICON_SVG)],
]);
