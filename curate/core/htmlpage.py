"""The HTML twin of a Markdown report (the pipeline's, the comparison's): one renderer, the
`markdown` package's, with tables, and the report's PNG plots embedded as data URIs so the page
is one self-contained file."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
         "img{max-width:100%}")


def to_html(markdown_text: str, title: str, images: Mapping[str, str] | None = None) -> str:
    """A standalone page of `markdown_text`; `images` maps an image file name the Markdown
    links (`![...](name)`) to its base64 PNG, which replaces the link."""
    import markdown

    text = markdown_text
    for name, data in (images or {}).items():
        text = re.sub(rf"\]\({re.escape(name)}\)", f"](data:image/png;base64,{data})", text)
    body = markdown.markdown(text, extensions=["tables", "fenced_code"])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body>{body}</body></html>")
