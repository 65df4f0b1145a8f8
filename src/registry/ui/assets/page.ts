// The one HTML document of the UI. Every URL in it is relative, so a reverse proxy can serve the
// registry under any host (or prefix) unchanged; nothing is inline, so the CSP needs no hashes.
export const PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>Registry</title>
<link rel="icon" href="ui/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="ui/app.css">
<script type="module" src="ui/app.js"></script>
</head>
<body>
<header class="top">
  <a class="brand" href="#/"><img src="ui/icon.svg" alt="" width="24" height="24"><span>Registry</span></a>
  <div id="account" class="account"></div>
</header>
<main id="main" tabindex="-1">
  <p class="muted">Loading…</p>
</main>
<div id="status" class="status" role="status" aria-live="polite"></div>
<noscript><p class="noscript">This page needs JavaScript. The registry API at /v2/ works without it.</p></noscript>
</body>
</html>
`;
