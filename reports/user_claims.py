"""A user's own claims (``--claims FILE.csv``, YAML ``claims:``): read, checked, and judged beside
the papers' by the same statistics (reports.claims).

The file has the columns of reports/data/claims.csv: ``claim_id, kind, task, optimizer, baseline,
metric, margin, members, statement`` required, ``paper, table, source`` optional. ``metric`` empty
(or ``score``/``accuracy``) means the task's score; a user's claim has no published numbers, so
its paper setting is the optimizers' paper points (where they have one) and its fair setting the
tuned confirm runs, as for every claim. The launch copies the file into the study directory
(``USER_FILE``); the report labels each of its claims as the user's (paper ``user``), or by the
file's own ``paper`` (``demo``: the quick preset's demonstration claim, reports/data/demo_claims.csv).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

USER_FILE = "user_claims.csv"
USER_PAPER = "user"  # the `paper` of every user claim: how the report tells them apart
DEMO_PAPER = "demo"  # the quick preset's demonstration claim (reports/data/demo_claims.csv), not a paper's
LABELS = {USER_PAPER: "your claims", DEMO_PAPER: "demonstration claim"}
REQUIRED = ("claim_id", "kind", "task", "optimizer", "baseline", "metric", "margin", "members", "statement")
OPTIONAL = ("paper", "table", "source")
KINDS = ("beats", "similar", "time", "all")
METRICS = ("", "score", "accuracy")  # all mean the task's score (what our records hold)


def read_claims(path: str | Path, optimizers: Iterable[str], task_ok: Callable[[str], bool]) -> pd.DataFrame:
    """The user's claims file as claims.csv rows; ``ValueError`` (one line naming the file, the row and
    the problem) on unknown columns, kinds, optimizers, tasks or metrics."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"claims file not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"claims file {path} is not a CSV: {str(exc).strip().splitlines()[0]}") from None
    unknown = [c for c in df.columns if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise ValueError(f"claims file {path}: unknown column(s) {', '.join(unknown)}; "
                         f"columns: {', '.join(REQUIRED + OPTIONAL)}")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"claims file {path}: missing column(s) {', '.join(missing)}")
    if df.empty:
        raise ValueError(f"claims file {path} holds no claims")
    known = set(optimizers)
    ids = set()
    for i, c in enumerate(df.itertuples(index=False), start=2):  # line 1 is the header
        where = f"claims file {path} line {i} ({c.claim_id or 'no claim_id'})"
        if not c.claim_id or c.claim_id in ids:
            raise ValueError(f"{where}: claim_id must be present and unique")
        ids.add(c.claim_id)
        if c.kind not in KINDS:
            raise ValueError(f"{where}: unknown kind {c.kind!r}; kinds: {', '.join(KINDS)}")
        if c.kind == "all":
            if not c.members.strip():
                raise ValueError(f"{where}: an `all` claim needs members (claim_id patterns)")
            continue
        for col in ("optimizer", "baseline"):
            name = getattr(c, col)
            if name not in known:
                raise ValueError(f"{where}: unknown {col} {name!r}; optimizers: {', '.join(sorted(known))}")
        if not task_ok(c.task):
            raise ValueError(f"{where}: unknown task {c.task!r}")
        if c.metric not in METRICS:
            raise ValueError(f"{where}: unknown metric {c.metric!r}; a user's claim is about the task's score "
                             "(leave metric empty)")
        if c.kind in ("similar", "time"):
            try:
                margin = float(c.margin)
            except ValueError:
                margin = -1.0
            if not margin >= 0:
                raise ValueError(f"{where}: a {c.kind} claim needs a margin >= 0, got {c.margin!r}")
    return df


def with_user_claims(claims: pd.DataFrame, user: pd.DataFrame | None) -> pd.DataFrame:
    """The papers' claims table followed by the user's claims (if any) in its columns."""
    return claims if user is None else pd.concat([claims, as_claims(user, list(claims.columns))], ignore_index=True)


def as_claims(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """User rows in reports.claims' CLAIM_COLUMNS: no published numbers, paper ``user`` (or the
    file's own ``paper``, e.g. ``demo`` for the quick preset's demonstration claim)."""
    given = lambda col, default: df[col].where(df[col] != "", default) if col in df else default  # noqa: E731
    out = pd.DataFrame({
        "claim_id": df["claim_id"], "paper": given("paper", USER_PAPER), "table": pd.NA, "kind": df["kind"], "task": df["task"],
        "optimizer": df["optimizer"], "baseline": df["baseline"], "metric": "score",
        "pub_value": float("nan"), "pub_baseline": float("nan"), "pub_delta": float("nan"),
        "claim": df["statement"], "source": given("source", "your claims file"), "margin": pd.to_numeric(df["margin"], errors="coerce"),
        "members": df["members"], "measured": True,
    })
    return out[columns]


def source_label(paper: str) -> str:
    """How the report names a claim's source: "X paper", "your claims" for the user's, "demonstration
    claim" for the quick preset's."""
    return LABELS.get(paper, f"{paper} paper")


def load_user_claims(study_dir: str | Path) -> pd.DataFrame | None:
    """The user's claims stored with a study (None when it has none)."""
    return read_file(Path(study_dir) / USER_FILE)


def read_file(path: str | Path | None) -> pd.DataFrame | None:
    """A claims file already checked by ``read_claims`` (None: no path or no file)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False) if path and Path(path).is_file() else None
