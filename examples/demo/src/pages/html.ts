/** Text safe inside HTML element content and double-quoted attributes. */
export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** JSON safe inside a `<script type="application/json">` element. */
export function scriptJson (value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c')
}

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:.7rem 1.2rem;display:flex;gap:1rem;align-items:center}
header a{color:#9cc3ff}header .who{margin-left:auto}header .who form{display:inline}
header .who button{padding:0;border:0;background:none;color:#9cc3ff;text-decoration:underline}
main{max-width:60rem;margin:1.2rem auto;padding:0 1.2rem}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:1rem 1.2rem;margin-bottom:1rem}
h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.05rem;margin:0 0 .6rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eef0f3}
.price{font:600 1.2rem ui-monospace,monospace}.up{color:#0a7d32}.down{color:#b3261e}
.big{font:600 1.6rem ui-monospace,monospace}.muted{color:#667085}
button{font:inherit;padding:.4rem .8rem;border-radius:6px;border:1px solid #98a2b3;background:#fff;cursor:pointer}
button.primary{background:#2f6fed;border-color:#2f6fed;color:#fff}
.bad{color:#b3261e;font-weight:600}.good{color:#0a7d32;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:1rem}
ol.log{font:13px ui-monospace,monospace;max-height:14rem;overflow:auto;padding-left:1.5rem}
`

/** A whole page: the demo's header, `body` as the main content. */
export function page (title: string, body: string, who?: string): string {
  const nav = who === undefined
    ? ''
    : `<a href="/">prices</a><a href="/admin">admin</a><span class="who">${escapeHtml(who)} · <form method="post" action="/logout" enctype="text/plain"><button>sign out</button></form></span>`
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><header><strong>wsguard demo</strong>${nav}</header><main>${body}</main></body></html>`
}
