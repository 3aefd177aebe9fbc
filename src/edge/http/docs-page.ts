import { createHash } from "node:crypto";

/** The page's only style and script, inline so the page is one request; allowed by hash in the CSP. */
const style = `
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1rem 2rem;color:#222}
h1{margin-bottom:0}.op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.4rem .8rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700;text-transform:uppercase}
.get{color:#0a7}.post{color:#06c}.delete{color:#c33}code,pre{font:13px ui-monospace,monospace}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:22rem}details summary{cursor:pointer}
`;

const script = `
// Markdown's \`code\` as <code>, built from text nodes (never innerHTML: the text comes from the server).
function rich(element, text) {
  text.split("\`").forEach((part, i) => {
    if (i % 2 === 0) { element.append(part); return; }
    const code = document.createElement("code"); code.textContent = part; element.append(code);
  });
  return element;
}
fetch("/openapi.json").then(r => r.json()).then(doc => {
  rich(document.getElementById("intro"), doc.info.description + " Version " + doc.info.version + ".");
  const ops = document.getElementById("ops");
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const box = document.createElement("div"); box.className = "op";
      const head = document.createElement("div");
      head.innerHTML = '<span class="m ' + method + '"></span> <code></code> — <span></span>';
      head.children[0].textContent = method; head.children[1].textContent = path; rich(head.children[2], op.summary);
      box.appendChild(head);
      const details = document.createElement("details");
      details.innerHTML = "<summary>schemas</summary><pre></pre>";
      details.querySelector("pre").textContent = JSON.stringify({parameters: op.parameters, requestBody: op.requestBody, responses: op.responses}, null, 2);
      box.appendChild(details); ops.appendChild(box);
    }
  }
});
`;

/**
 * A self-contained page that renders /openapi.json (no CDN: nodes often run
 * without internet access). It lists each operation with its parameters,
 * body and response schemas.
 */
export const docsPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Aviso API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${style}</style></head><body>
<h1>Aviso API</h1><p id="intro"></p><p>Rendered from <a href="/openapi.json">/openapi.json</a>. The docs/*.md files named here are in the Aviso repository.</p><div id="ops"></div>
<script>${script}</script></body></html>`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

/**
 * S13: the page may run its own script and style (by hash), fetch this
 * origin, and nothing else — no other script, frame, form or base URL.
 */
export const docsContentSecurityPolicy = [
  "default-src 'none'",
  `script-src ${sha256(script)}`,
  `style-src ${sha256(style)}`,
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
