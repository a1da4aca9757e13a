"""The ``/docs`` page: a self-contained HTML page whose small inline script fetches the
OpenAPI document and lists its paths, methods, parameters, responses and schemas.

No CDN, no external asset, no new dependency: the page works on a host with no route
to the internet, and its ``Content-Security-Policy`` lets it load nothing but its own
inline style and script (by hash) and the document from the same origin.
"""

from __future__ import annotations

import base64
import hashlib
import html

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem;
       padding: 1rem 1.5rem 4rem; color: #1d1f21; background: #fff; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
code, .path, td.t { font-family: ui-monospace, monospace; font-size: 0.92em; }
.desc { white-space: pre-wrap; } .muted { color: #666; }
details { border: 1px solid #ddd; border-radius: 4px; margin: 0.35rem 0; }
details > summary { cursor: pointer; padding: 0.35rem 0.6rem; }
details > div { padding: 0.2rem 1rem 0.8rem; }
.m { display: inline-block; min-width: 3.6rem; font-weight: 600; text-transform: uppercase; }
.get { color: #0b6e4f; } .post { color: #9a4d00; }
table { border-collapse: collapse; width: 100%; margin: 0.4rem 0; }
th, td { text-align: left; vertical-align: top; padding: 0.2rem 0.5rem;
         border-bottom: 1px solid #eee; }
#filter { width: 100%; padding: 0.4rem; font-size: 1em; margin: 0.5rem 0; }
#error { color: #a00; font-weight: 600; }
"""

_SCRIPT = """
"use strict";
const docUrl = document.body.dataset.openapi;
const main = document.getElementById("main");
let doc;

function el(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const kid of kids) {
    if (kid !== null && kid !== undefined) node.append(kid instanceof Node ? kid : String(kid));
  }
  return node;
}

// A description: `code` spans as <code>, the rest as plain text (never as HTML).
function text(s) {
  const node = el("span", {class: "desc"});
  String(s || "").split("`").forEach((part, i) => {
    node.append(i % 2 ? el("code", {}, part) : part);
  });
  return node;
}

function refName(ref) { return ref.split("/").pop(); }

function resolve(o) {
  return o && o.$ref ? doc.components[o.$ref.split("/")[2]][refName(o.$ref)] : o;
}

// A short readable type; schema names link to the schema.
function type(s) {
  if (!s || Object.keys(s).length === 0) return "any";
  if (s.$ref) return el("a", {href: "#schema-" + refName(s.$ref)}, refName(s.$ref));
  if ("const" in s) return el("code", {}, JSON.stringify(s.const));
  const span = el("span");
  if (s.anyOf) {
    s.anyOf.forEach((x, i) => span.append(i ? " | " : "", type(x)));
    return span;
  }
  if (s.enum) return el("span", {}, "one of " + s.enum.map(v => JSON.stringify(v)).join(", "));
  [].concat(s.type || "any").forEach((kind, i) => {
    if (i) span.append(" | ");
    const more = s.additionalProperties;
    if (kind === "array" && s.items) {
      span.append("array of ", type(s.items));
    } else if (kind === "array" && s.prefixItems) {
      span.append("array of [" + s.prefixItems.map(x => x.type || "any").join(", ") + "]");
    } else if (kind === "object" && more && typeof more === "object") {
      span.append("object of ", type(more));
    } else {
      span.append(kind);
    }
  });
  return span;
}

function table(head, rows) {
  return el("table", {}, el("tr", {}, ...head.map(h => el("th", {}, h))),
            ...rows.map(cells => el("tr", {}, ...cells.map(c => el("td", {}, c)))));
}

function schemaTable(s) {
  const rows = Object.entries(s.properties || {}).map(([name, p]) =>
    [el("code", {}, name), type(p), p["x-unit"] || "", text(p.description)]);
  return rows.length ? table(["field", "type", "unit", "description"], rows) : null;
}

function operation(path, method, op) {
  const body = el("div");
  if (op.description) body.append(el("p", {}, text(op.description)));
  const params = (op.parameters || []).map(resolve).map(p =>
    [el("code", {}, p.name + (p.required ? "" : "?")), p.in, type(p.schema), text(p.description)]);
  if (params.length) body.append(table(["parameter", "in", "type", "description"], params));
  const responses = Object.entries(op.responses).map(([status, ref]) => {
    const r = resolve(ref);
    const bodies = el("span");
    for (const [media, m] of Object.entries(r.content || {})) {
      if (bodies.childNodes.length) bodies.append(el("br"));
      bodies.append(el("code", {}, media), " ", type(m.schema));
    }
    return [el("code", {}, status), text(r.description), bodies];
  });
  body.append(table(["status", "meaning", "body"], responses));
  const open = op.security && op.security.length === 0;
  const note = "\u2014 " + op.summary + (open ? " (open)" : "");
  const summary = el("summary", {}, el("span", {class: "m " + method}, method), " ",
                     el("span", {class: "path"}, path), " ", el("span", {class: "muted"}, note));
  const search = (method + " " + path + " " + op.summary).toLowerCase();
  return el("details", {"data-search": search}, summary, body);
}

function render() {
  const servers = doc.servers.map(s => s.url).join(", ");
  main.append(
    el("h1", {}, doc.info.title + " ", el("span", {class: "muted"}, doc.info.version)),
    el("p", {class: "muted"}, "OpenAPI " + doc.openapi + " \u00b7 ",
       el("a", {href: docUrl}, "openapi.json"), " \u00b7 server ", el("code", {}, servers)),
    el("p", {}, text(doc.info.description)));
  const filter = el("input", {id: "filter", placeholder: "filter routes: history, post, cpu..."});
  main.append(filter);
  const operations = [];
  for (const tag of doc.tags) {
    const section = el("section", {}, el("h2", {}, tag.name),
                       el("p", {class: "muted"}, tag.description));
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (op.tags && op.tags[0] === tag.name) {
          const node = operation(path, method, op);
          operations.push(node);
          section.append(node);
        }
      }
    }
    main.append(section);
  }
  filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase();
    for (const node of operations) node.hidden = q !== "" && !node.dataset.search.includes(q);
  });
  main.append(el("h2", {}, "Schemas"));
  for (const [name, s] of Object.entries(doc.components.schemas)) {
    const about = s.description ? el("p", {}, text(s.description)) : null;
    main.append(el("details", {id: "schema-" + name},
                   el("summary", {}, el("code", {}, name), " ", type(s)),
                   el("div", {}, about, schemaTable(s))));
  }
  openTarget(location.hash);
}

function openTarget(hash) {
  const target = hash ? document.getElementById(hash.slice(1)) : null;
  if (target) {
    target.open = true;
    target.scrollIntoView();
  }
}

// A schema link opens the schema it points to.
document.addEventListener("click", e => {
  const a = e.target.closest("a[href^='#schema-']");
  if (a) openTarget(a.getAttribute("href"));
});

fetch(docUrl, {credentials: "same-origin"})
  .then(r => {
    if (!r.ok) throw new Error(r.status + " " + r.statusText);
    return r.json();
  })
  .then(d => { doc = d; render(); })
  .catch(err => {
    document.getElementById("error").textContent = "Cannot load " + docUrl + ": " + err.message;
  });
"""


def _digest(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


#: the page may run its own inline style and script and fetch from its own origin, only
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src {_digest(_STYLE)}; script-src {_digest(_SCRIPT)};"
    " connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'"
)


def render_page(openapi_url: str, title: str = "statbus API") -> bytes:
    """The page for the document at ``openapi_url`` (a path on the same origin)."""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{_STYLE}</style></head>\n"
        f'<body data-openapi="{html.escape(openapi_url, quote=True)}">\n'
        '<p id="error"></p><main id="main"></main>\n'
        "<noscript>This page needs JavaScript; the document itself is at "
        f'<a href="{html.escape(openapi_url, quote=True)}">'
        f"{html.escape(openapi_url)}</a>.</noscript>\n"
        f"<script>{_SCRIPT}</script>\n"
        "</body></html>\n"
    ).encode()
