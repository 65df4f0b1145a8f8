// The UI's only stylesheet: system fonts, light and dark palettes, and a narrow-screen layout.
export const APP_CSS = String.raw`:root {
  color-scheme: light dark;
  --bg: #f8fafc;
  --panel: #ffffff;
  --text: #0f172a;
  --muted: #526075;
  --border: #d6dde8;
  --accent: #1d4ed8;
  --accent-text: #ffffff;
  --danger: #b91c1c;
  --danger-bg: #fef2f2;
  --notice-bg: #eff6ff;
  --notice-border: #bfdbfe;
  --code-bg: #eef2f7;
  --focus: #f59e0b;
  --radius: 8px;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0b1120;
    --panel: #111a2e;
    --text: #e5eaf3;
    --muted: #9aa8bf;
    --border: #26334d;
    --accent: #7aa7ff;
    --accent-text: #0b1120;
    --danger: #f87171;
    --danger-bg: #2a1216;
    --notice-bg: #0f1d3a;
    --notice-border: #1e3a8a;
    --code-bg: #1a2540;
    --focus: #fbbf24;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--text);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
a { color: var(--accent); }
a:hover { text-decoration-thickness: 2px; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 3px; }
main:focus, h1:focus { outline: none; }
code, .mono { font-family: var(--mono); font-size: 0.9em; }
code { background: var(--code-bg); padding: 0.1em 0.35em; border-radius: 4px; overflow-wrap: anywhere; }
h1 { font-size: 1.6rem; margin: 0.2rem 0 1rem; overflow-wrap: anywhere; line-height: 1.25; }
h2 { font-size: 1.2rem; margin: 2rem 0 0.75rem; }
.sr-only {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0;
}
.muted { color: var(--muted); }
.top {
  display: flex; align-items: center; justify-content: space-between; gap: 1rem; flex-wrap: wrap;
  padding: 0.6rem 1.25rem; background: var(--panel); border-bottom: 1px solid var(--border);
}
.brand { display: inline-flex; align-items: center; gap: 0.5rem; font-weight: 650; color: var(--text); text-decoration: none; font-size: 1.1rem; }
.account { display: flex; align-items: center; gap: 0.75rem; flex-wrap: wrap; color: var(--muted); font-size: 0.95rem; }
main { max-width: 72rem; margin: 0 auto; padding: 1.25rem; }
button, .button {
  font: inherit; cursor: pointer; border-radius: 6px; border: 1px solid var(--border);
  background: var(--panel); color: var(--text); padding: 0.35rem 0.8rem; min-height: 2.25rem;
}
button:hover { border-color: var(--accent); }
button:disabled { opacity: 0.6; cursor: default; }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-text); font-weight: 600; }
button.danger { color: var(--danger); border-color: var(--danger); }
button.danger.solid { background: var(--danger); color: var(--panel); font-weight: 600; }
button.copy { padding: 0.15rem 0.55rem; min-height: 2rem; font-size: 0.85rem; }
input[type="search"], input[type="text"], input[type="password"], input:not([type]) {
  font: inherit; color: var(--text); background: var(--panel); border: 1px solid var(--border);
  border-radius: 6px; padding: 0.45rem 0.65rem; width: 100%; min-height: 2.5rem;
}
label { font-weight: 600; display: block; margin-bottom: 0.25rem; }
.filter { max-width: 28rem; margin: 1rem 0; }
.crumbs { font-size: 0.95rem; margin-bottom: 0.25rem; overflow-wrap: anywhere; }
.crumbs ol { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 0.35rem; }
.crumbs li + li::before { content: "›"; margin-right: 0.35rem; color: var(--muted); }
.banner {
  background: var(--notice-bg); border: 1px solid var(--notice-border); border-radius: var(--radius);
  padding: 0.6rem 0.9rem; margin: 0 0 1rem; font-size: 0.95rem;
}
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(9.5rem, 1fr)); gap: 0.75rem; margin: 0; }
.stats div { background: var(--panel); border: 1px solid var(--border); border-radius: var(--radius); padding: 0.6rem 0.9rem; }
.stats dt { color: var(--muted); font-size: 0.85rem; }
.stats dd { margin: 0; font-size: 1.25rem; font-weight: 650; }
.stats dd.sub { font-size: 0.85rem; font-weight: 400; color: var(--muted); }
.stats meter { width: 100%; height: 0.6rem; }
.count { color: var(--muted); margin: 0.5rem 0; }
table.list { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--border); border-radius: var(--radius); }
table.list th, table.list td { text-align: left; padding: 0.5rem 0.75rem; border-bottom: 1px solid var(--border); vertical-align: top; }
table.list th { font-size: 0.85rem; color: var(--muted); font-weight: 600; }
table.list tr:last-child td { border-bottom: 0; }
table.list td { overflow-wrap: anywhere; }
.num { text-align: right !important; white-space: nowrap; font-variant-numeric: tabular-nums; }
.cards { list-style: none; margin: 0; padding: 0; display: grid; gap: 0.75rem; }
.card { background: var(--panel); border: 1px solid var(--border); border-radius: var(--radius); padding: 0.75rem 1rem; }
.card-head { display: flex; justify-content: space-between; align-items: center; gap: 0.75rem; flex-wrap: wrap; }
.card-title { font-size: 1.1rem; font-weight: 650; overflow-wrap: anywhere; }
.facts { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; margin: 0.4rem 0; color: var(--muted); font-size: 0.95rem; }
.facts span { overflow-wrap: anywhere; }
.digest { display: inline-flex; align-items: center; gap: 0.4rem; flex-wrap: wrap; }
.pull { display: flex; align-items: center; gap: 0.5rem; margin-top: 0.4rem; }
.pull code { flex: 1 1 auto; min-width: 0; padding: 0.3rem 0.5rem; }
.badge { display: inline-block; font-size: 0.78rem; border: 1px solid var(--border); border-radius: 999px; padding: 0 0.5rem; color: var(--muted); }
dl.details { display: grid; grid-template-columns: minmax(8rem, max-content) 1fr; gap: 0.45rem 1rem; margin: 0; background: var(--panel); border: 1px solid var(--border); border-radius: var(--radius); padding: 0.75rem 1rem; }
dl.details dt { color: var(--muted); font-weight: 600; }
dl.details dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
ul.inline { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 0.35rem; }
.actions { display: flex; gap: 0.6rem; flex-wrap: wrap; margin: 1rem 0; }
.pager { display: flex; align-items: center; gap: 1rem; margin: 1rem 0; flex-wrap: wrap; }
.pager .disabled { color: var(--muted); }
.error { color: var(--danger); }
.notice { background: var(--danger-bg); border: 1px solid var(--danger); border-radius: var(--radius); padding: 0.6rem 0.9rem; }
form.signin { max-width: 24rem; margin: 2rem auto; background: var(--panel); border: 1px solid var(--border); border-radius: var(--radius); padding: 1.25rem 1.5rem; }
form.signin .field { margin: 0.9rem 0; }
form.signin button { width: 100%; margin-top: 0.5rem; min-height: 2.75rem; }
dialog.confirm { border: 1px solid var(--border); border-radius: var(--radius); background: var(--panel); color: var(--text); max-width: min(36rem, calc(100vw - 2rem)); padding: 1rem 1.25rem; }
dialog.confirm::backdrop { background: rgba(0, 0, 0, 0.5); }
dialog.confirm h2 { margin-top: 0; overflow-wrap: anywhere; }
dialog.confirm ul { padding-left: 1.2rem; }
dialog.confirm li { overflow-wrap: anywhere; }
.status {
  position: fixed; left: 50%; bottom: 1rem; transform: translateX(-50%); max-width: calc(100vw - 2rem);
  background: var(--text); color: var(--bg); border-radius: var(--radius); padding: 0.5rem 0.9rem;
  overflow-wrap: anywhere; box-shadow: 0 4px 16px rgba(0, 0, 0, 0.25);
}
.status:empty { display: none; }
.noscript { padding: 1rem; }
@media (max-width: 40rem) {
  main { padding: 0.9rem; }
  .top { padding: 0.5rem 0.9rem; }
  h1 { font-size: 1.35rem; }
  table.list thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0, 0, 0, 0); }
  table.list, table.list tbody, table.list tr, table.list td { display: block; width: 100%; }
  table.list tr { border-bottom: 1px solid var(--border); padding: 0.4rem 0; }
  table.list tr:last-child { border-bottom: 0; }
  table.list td { border: 0; padding: 0.2rem 0.75rem; display: flex; justify-content: space-between; gap: 1rem; text-align: right; }
  table.list td.num { text-align: right !important; }
  table.list td::before { content: attr(data-label); color: var(--muted); font-weight: 600; text-align: left; flex: 0 0 auto; }
  table.list td.primary { display: block; text-align: left; font-weight: 600; }
  table.list td.primary::before, table.list td[data-label=""] { display: none; }
  dl.details { grid-template-columns: 1fr; }
  dl.details dd { margin-bottom: 0.4rem; }
  .pull { flex-wrap: wrap; }
  button, .button { min-height: 2.75rem; }
  button.copy { min-height: 2.5rem; }
}
`;
