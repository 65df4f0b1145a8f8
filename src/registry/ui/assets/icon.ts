// A stack of containers; also the favicon (so the browser never asks for /favicon.ico).
export const ICON_SVG = String.raw`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24">
<rect x="2" y="3" width="20" height="5" rx="1.5" fill="#2563eb"/>
<rect x="2" y="9.5" width="20" height="5" rx="1.5" fill="#3b82f6"/>
<rect x="2" y="16" width="20" height="5" rx="1.5" fill="#60a5fa"/>
</svg>
`;
