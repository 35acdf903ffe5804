"""Render one report, given as a list of blocks, to markdown and to self-contained HTML.

Blocks: ("h", level, text), ("p", text), ("list", [text, ...]), ("table", DataFrame),
("fig", png path, caption). Markdown links figures by relative path; HTML embeds them as base64
data URIs and carries its CSS inline, so it opens offline with nothing beside it.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.6em 0}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left}
th{background:#f3f3f3}img{max-width:100%;display:block;margin:0.4em 0}figure{margin:1em 0}
figcaption{font-size:12px;color:#555}code{background:#f5f5f5;padding:0 3px}"""


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


def _md_cell(v) -> str:
    return fmt(v).replace("|", "\\|").replace("\n", " ")


def md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(no rows)_"
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def to_markdown(blocks: list[tuple], base: Path) -> str:
    out = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out.append("#" * b[1] + " " + b[2])
        elif kind == "p":
            out.append(b[1])
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in b[1]))
        elif kind == "table":
            out.append(md_table(b[1]))
        elif kind == "fig":
            out.append(f"![{b[2]}]({Path(b[1]).relative_to(base).as_posix()})")
        else:
            raise ValueError(f"unknown report block kind {kind!r}")
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    """Escape text and turn `code` and **bold** into tags."""
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)


def _html_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p><i>(no rows)</i></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def to_html(blocks: list[tuple], title: str) -> str:
    out = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out.append(f"<h{b[1]}>{_inline(b[2])}</h{b[1]}>")
        elif kind == "p":
            out.append(f"<p>{_inline(b[1])}</p>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
        elif kind == "table":
            out.append(_html_table(b[1]))
        elif kind == "fig":
            data = base64.b64encode(Path(b[1]).read_bytes()).decode("ascii")
            out.append(f'<figure><img alt="{html.escape(b[2])}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{_inline(b[2])}</figcaption></figure>")
        else:
            raise ValueError(f"unknown report block kind {kind!r}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")
