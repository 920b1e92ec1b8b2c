"""A readable, self-contained docs page rendered from the OpenAPI document (no scripts, no CDN)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ddd}
.op{border:1px solid #ddd;border-radius:6px;margin:1em 0;padding:.6em 1em}
.m{display:inline-block;min-width:4.5em;font-weight:bold;font-family:monospace}
.get{color:#0a6}.post{color:#06c}.delete{color:#c22}.patch{color:#a60}.put{color:#70a}
code,pre{font-family:ui-monospace,monospace;font-size:13px} pre{background:#f6f6f6;padding:.6em;overflow:auto}
table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}
"""


def _schema_text(schema: Any) -> str:
    return escape(json.dumps(schema, indent=2, ensure_ascii=False))


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return str(ref).rsplit("/", 1)[-1] if ref else None


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    parts = [
        f'<div class="op" id="{escape(op["operationId"])}">',
        f'<div><span class="m {method}">{method.upper()}</span> <code>{escape(path)}</code>'
        f" — {escape(op.get('summary', ''))}</div>",
    ]
    if op.get("description"):
        parts.append(f"<p>{escape(op['description'])}</p>")
    if op.get("parameters"):
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td>{'yes' if p.get('required') else 'no'}</td>"
            f"<td><code>{escape(json.dumps(p.get('schema', {}), ensure_ascii=False))}</code></td>"
            f"<td>{escape(p.get('description', ''))}</td></tr>"
            for p in op["parameters"]
        )
        parts.append(
            "<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th><th></th></tr>"
            f"{rows}</table>"
        )
    body = op.get("requestBody")
    if body:
        name = _ref_name(body["content"]["application/json"]["schema"])
        parts.append(f'<p>Body (JSON): <a href="#schema-{name}">{name}</a></p>')
    answers = []
    for status, response in op["responses"].items():
        content = response.get("content", {})
        names = [f'<a href="#schema-{n}">{n}</a>' for c in content.values() if (n := _ref_name(c["schema"]))]
        answers.append(f"<code>{status}</code> {escape(response['description'])} {' '.join(names)}")
    parts.append("<p>Responses: " + "; ".join(answers) + "</p></div>")
    return "".join(parts)


def render(document: dict[str, Any]) -> str:
    info = document["info"]
    by_tag: dict[str, list[str]] = {}
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault(op["tags"][0], []).append(_operation(path, method, op))
    sections = "".join(f"<h2>{escape(tag)}</h2>{''.join(ops)}" for tag, ops in by_tag.items())
    schemas = "".join(
        f'<details id="schema-{escape(name)}"><summary><code>{escape(name)}</code></summary>'
        f"<pre>{_schema_text(schema)}</pre></details>"
        for name, schema in sorted(document["components"]["schemas"].items())
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(info['title'])}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(info['title'])} <small>{escape(info['version'])}</small></h1>"
        f"<p>{escape(info['description'])}</p>"
        '<p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI 3.1).</p>'
        f"{sections}<h2>Schemas</h2>{schemas}</body></html>"
    )
