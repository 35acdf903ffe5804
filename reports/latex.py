"""Report tables as LaTeX (booktabs) for papers: pandas' Styler.to_latex with every cell and header
escaped, so optimizer names like `muadam_paper` and symbols like % or & compile as text."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def to_latex(df: pd.DataFrame, caption: str = "", digits: int = 2) -> str:
    """One booktabs tabular (with a table float when `caption` is given); numbers right-aligned."""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    styler = (df.style.format(escape="latex", precision=digits, na_rep="--", thousands=None)
              .format_index(escape="latex", axis=1).hide(axis="index"))
    body = styler.to_latex(hrules=True, column_format="".join("r" if n else "l" for n in numeric))
    if not caption:
        return body
    return ("\\begin{table}[ht]\n\\centering\n\\small\n" + body +
            f"\\caption{{{_escape(caption)}}}\n\\end{{table}}\n")


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _escape(text: str) -> str:
    """A caption as LaTeX text (the same characters Styler's escape="latex" handles)."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def write_tables(tables: dict[str, tuple[pd.DataFrame, str]], outdir: Path) -> dict[str, Path]:
    """Write {name: (table, caption)} as outdir/<name>.tex; returns {file name: path}."""
    outdir.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (df, caption) in tables.items():
        path = outdir / f"{name}.tex"
        path.write_text(to_latex(df.replace({np.inf: np.nan, -np.inf: np.nan}), caption))
        out[f"tables/{name}.tex"] = path
    return out
