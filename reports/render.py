"""Render one report, given as a list of blocks, to markdown (GitHub) and to self-contained HTML.

Blocks: ("h", level, text), ("p", text), ("list", [text, ...][, css class]), ("table", DataFrame),
("fig", Drawn), ("details", summary text, [blocks][, css class]) (closed) and ("toc",). Headings get GitHub's anchor
slugs, so the markdown table of contents links work on GitHub and the HTML sidebar uses the same
anchors. Markdown links figures by relative path (PNG, with the PDF beside it); HTML embeds them as
base64 data URIs and carries its CSS inline, so it opens offline with nothing beside it.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

TOC_LEVELS = (1, 2)
VERDICT_CLASSES = {"holds": "v-holds", "does not hold": "v-fails", "inconclusive": "v-inc", "not run": "v-not"}
CSS = """*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222}
nav.toc{position:fixed;top:0;left:0;bottom:0;width:230px;overflow-y:auto;padding:16px 12px;background:#f6f7f9;
border-right:1px solid #ddd;font-size:13px}nav.toc .title{font-weight:600;margin-bottom:6px}
nav.toc ul{list-style:none;margin:0;padding-left:0}nav.toc li{margin:3px 0}nav.toc li.l2{padding-left:12px}
nav.toc a{color:#1f4e9c;text-decoration:none}nav.toc a:hover{text-decoration:underline}
main{margin-left:230px;padding:8px 28px 60px;max-width:1150px}h1{font-size:26px;margin:14px 0 6px}
h2{font-size:21px;margin:34px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}h3{font-size:17px;margin:22px 0 6px}
.tablewrap{overflow-x:auto;max-width:100%}table{border-collapse:collapse;font-size:13px;margin:0.5em 0}
th,td{border:1px solid #d5d5d5;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f1f2f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%;height:auto;display:block;margin:0.3em 0}
figure{margin:1em 0 1.6em}figcaption{font-size:13.5px;color:#444;max-width:1080px}
code{background:#f3f3f3;padding:0 3px;border-radius:3px}details{margin:0.4em 0;border:1px solid #e3e3e3;
border-radius:4px;padding:4px 10px}summary{cursor:pointer;font-weight:600}
.v-holds{background:#d9f0d3}.v-fails{background:#fbd5d0}.v-inc{background:#eeeeee}.v-not{color:#888}
ul.verdict li{margin:6px 0}"""


def fmt(x, digits: int = 2) -> str:
    """A number for a table cell: fixed digits, '–' for missing."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    if isinstance(x, (int, np.integer)):
        return str(x)
    if isinstance(x, (float, np.floating)):
        return f"{x:.{digits}f}"
    return str(x)


def fmt_ci(mean, low, high, digits: int = 2) -> str:
    """'mean [low, high]', or just the mean when no interval exists."""
    if not np.isfinite(mean):
        return "–"
    if not (np.isfinite(low) and np.isfinite(high)):
        return fmt(float(mean), digits)
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", text).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text))


def headings(blocks: list[tuple], levels=TOC_LEVELS) -> list[tuple[int, str, str]]:
    """(level, text, anchor) of the headings the table of contents lists, in order."""
    return [(b[1], b[2], slug(b[2])) for b in blocks if b[0] == "h" and b[1] in levels]


def _md_cell(v) -> str:
    return fmt(v).replace("|", "\\|").replace("\n", " ")


def md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(no rows)_"
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def _md_block(b: tuple, base: Path, toc: list) -> str:
    kind = b[0]
    if kind == "h":
        return "#" * b[1] + " " + b[2]
    if kind == "p":
        return b[1]
    if kind == "list":
        return "\n".join(f"- {item}" for item in b[1])
    if kind == "table":
        return md_table(b[1])
    if kind == "fig":
        d = b[1]
        return (f"![{d.title}]({Path(d.png).relative_to(base).as_posix()})\n\n"
                f"*{d.caption}* ([PDF]({Path(d.pdf).relative_to(base).as_posix()}))")
    if kind == "details":
        inner = "\n\n".join(_md_block(x, base, toc) for x in b[2])
        return f"<details><summary>{html.escape(b[1])}</summary>\n\n{inner}\n\n</details>"
    if kind == "toc":
        return "**Contents:** " + " · ".join(f"[{t}](#{a})" for level, t, a in toc if level > 1)
    raise ValueError(f"unknown report block kind {kind!r}")


def to_markdown(blocks: list[tuple], base: Path) -> str:
    toc = headings(blocks)
    return "\n\n".join(_md_block(b, base, toc) for b in blocks) + "\n"


def _inline(text: str) -> str:
    """Escape text and turn `code` and **bold** into tags."""
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)


def _td(v) -> str:
    text = fmt(v)
    cls = VERDICT_CLASSES.get(text) or ("num" if isinstance(v, (int, float, np.integer, np.floating)) else "")
    return f'<td class="{cls}">{html.escape(text)}</td>' if cls else f"<td>{html.escape(text)}</td>"


def _html_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p><i>(no rows)</i></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def _html_block(b: tuple) -> str:
    kind = b[0]
    if kind == "h":
        return f'<h{b[1]} id="{slug(b[2])}">{_inline(b[2])}</h{b[1]}>'
    if kind == "p":
        return f"<p>{_inline(b[1])}</p>"
    if kind == "list":
        cls = f' class="{b[2]}"' if len(b) > 2 else ""
        return f"<ul{cls}>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>"
    if kind == "table":
        return _html_table(b[1])
    if kind == "fig":
        d = b[1]
        data = base64.b64encode(Path(d.png).read_bytes()).decode("ascii")
        return (f'<figure id="fig-{slug(d.key)}"><img alt="{html.escape(d.title)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_inline(d.caption)}</figcaption></figure>")
    if kind == "details":
        cls = f' class="{b[3]}"' if len(b) > 3 else ""
        return f"<details{cls}><summary>{_inline(b[1])}</summary>" + "\n".join(_html_block(x) for x in b[2]) + "</details>"
    if kind == "toc":
        return ""  # the HTML has its table of contents in the sidebar
    raise ValueError(f"unknown report block kind {kind!r}")


def to_html(blocks: list[tuple], title: str) -> str:
    """The whole page: sidebar table of contents (levels 1-2) and the blocks, no external resource."""
    items = "".join(f'<li class="l{level}"><a href="#{a}">{_inline(t)}</a></li>' for level, t, a in headings(blocks))
    nav = f'<nav class="toc"><div class="title">{html.escape(title)}</div><ul>{items}</ul></nav>'
    body = "\n".join(x for x in (_html_block(b) for b in blocks) if x)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>\n{nav}\n<main>\n{body}\n</main>\n</body></html>\n")
