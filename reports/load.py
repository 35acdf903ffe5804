"""Read and validate a study directory (trials.csv, history.csv, study.json).

The record format is the contract of docs/ARCHITECTURE.md ("Records"). Loading normalizes it once
so that every later module can rely on it: `iid` is boolean, hyperparameter columns are `hp_*`,
and a `value` / `test_value` column holds the score that metrics use, with diverged trials at the
task's chance score (never dropped) and errored trials as NaN (counted, not scored).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

PHASES = ("tune", "confirm", "default", "paper", "ladder")  # and a ladder's `tune-<names>` phases (study.ladder)
STATUSES = ("ok", "diverged", "error", "timeout")  # timeout: counted like an error
PROTOCOLS = ("fair", "paper")
REQUIRED = ("trial_id", "phase", "task", "optimizer", "status", "score")
HISTORY_REQUIRED = ("trial_id", "phase", "task", "optimizer", "epoch", "key", "value")


@dataclass
class Study:
    """One loaded study: its directory, spec, trial rows and per-epoch history."""

    path: Path
    name: str
    spec: dict
    phases: dict
    trials: pd.DataFrame
    history: pd.DataFrame
    tasks: list[str] = field(default_factory=list)
    optimizers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the loader had to assume (missing spec fields)
    batch_caps: dict = field(default_factory=dict)  # {task: largest batch size}, study.json's (GLUE smoke runs)
    retries: pd.DataFrame = field(default_factory=pd.DataFrame)  # retries.csv: trial_id, phase, time, cause
    ladder: dict = field(default_factory=dict)  # study.json's `ladder`: resolved rungs and their trial ids

    @property
    def hp_columns(self) -> list[str]:
        return [c for c in self.trials.columns if c.startswith("hp_")]


def _as_bool(col: pd.Series) -> pd.Series:
    """Read True/False, true/false, 1/0 and blanks (False) as booleans."""
    text = col.astype("string").str.strip().str.lower().fillna("false")
    bad = ~text.isin(["true", "false", "1", "0", "1.0", "0.0", ""])
    if bad.any():
        raise ValueError(f"iid column holds a non-boolean value: {col[bad].iloc[0]!r}")
    return text.isin(["true", "1", "1.0"])


def _check_values(df: pd.DataFrame, column: str, allowed: tuple[str, ...], where: str, prefix: str | None = None) -> None:
    bad = ~df[column].isin(allowed)
    if prefix:
        bad &= ~df[column].str.startswith(prefix).fillna(False)
    if bad.any():
        raise ValueError(f"{where}: {column} {df.loc[bad, column].iloc[0]!r} is not one of {', '.join(allowed)}")


def _chance_per_row(df: pd.DataFrame) -> pd.Series:
    """The row's chance score, or the task's (median over its rows) where a row lacks one."""
    chance = pd.to_numeric(df["chance"], errors="coerce") if "chance" in df else pd.Series(np.nan, index=df.index)
    task_chance = chance.groupby(df["task"]).transform("median")
    return chance.fillna(task_chance)


def normalize_trials(df: pd.DataFrame, where: str = "trials.csv") -> pd.DataFrame:
    """Validate a trials table and add `value`, `test_value` (diverged -> chance, error -> NaN)."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)}")
    df = df.copy()
    for col in ("phase", "task", "optimizer", "status"):
        df[col] = df[col].astype("string").str.strip()
    df["protocol"] = df["protocol"].astype("string").str.strip().fillna("fair") if "protocol" in df else "fair"
    _check_values(df, "phase", PHASES, where, prefix="tune-")
    _check_values(df, "status", STATUSES, where)
    _check_values(df, "protocol", PROTOCOLS, where)
    df["iid"] = _as_bool(df["iid"]) if "iid" in df else False
    for col in ("score", "test_score", "seed", "train_loss", "steps", "wall_time", "time_per_step", "epochs_done", "device_share"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    df["chance"] = _chance_per_row(df)
    diverged = df["status"] == "diverged"
    no_chance = diverged & df["chance"].isna()
    if no_chance.any():
        raise ValueError(f"{where}: diverged trial(s) of task {df.loc[no_chance, 'task'].iloc[0]!r} have no chance score")
    ok = df["status"] == "ok"
    df["value"] = np.where(ok, df["score"], np.where(diverged, df["chance"], np.nan))
    test = df["test_score"] if "test_score" in df else pd.Series(np.nan, index=df.index)
    df["test_value"] = np.where(ok, test, np.where(diverged, df["chance"], np.nan))
    return df


def normalize_history(df: pd.DataFrame, where: str = "history.csv") -> pd.DataFrame:
    missing = [c for c in HISTORY_REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)}")
    df = df.copy()
    df["key"] = df["key"].astype("string")
    df["epoch"] = pd.to_numeric(df["epoch"], errors="coerce")
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    return df


def spec_names(entries) -> list[str]:
    """Names from a spec list: plain strings, {"name": ...} objects, or a mapping's keys."""
    if isinstance(entries, dict):
        return [str(k) for k in entries]
    return [str(e["name"]) if isinstance(e, dict) else str(e) for e in entries or []]


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, low_memory=False, dtype={"trial_id": str})  # hex ids like 1234e567
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def spec_defaults(spec: dict, trials: pd.DataFrame) -> tuple[dict, list[str]]:
    """The spec with missing budget fields taken from the records, and a note naming each one.

    trials / iid_trials / seeds default to the most tune, i.i.d. tune and confirm rows any cell has,
    so a study directory without a full study.json is judged against what it actually ran.
    """
    cells = trials.groupby(["task", "optimizer"])
    inferred = {"trials": cells["phase"].apply(lambda p: int((p == "tune").sum())),
                "iid_trials": cells.apply(lambda g: int(((g["phase"] == "tune") & g["iid"]).sum()), include_groups=False),
                "seeds": cells["phase"].apply(lambda p: int((p == "confirm").sum()))} if len(trials) else {}
    spec, taken = dict(spec), []
    for key, per_cell in inferred.items():
        if key not in spec and len(per_cell):
            spec[key] = int(per_cell.max())
            taken.append(f"{key} = {spec[key]}")
    notes = [f"study.json does not give {', '.join(t.split(' =')[0] for t in taken)}: taken from the records as the most "
             f"any cell ran ({'; '.join(taken)})."] if taken else []
    return spec, notes


def load_study(study_dir: str | Path) -> Study:
    """Load a study directory; a partly finished one (no trials.csv yet) loads with no rows."""
    path = Path(study_dir)
    if not path.is_dir():
        raise ValueError(f"study directory {str(path)!r} does not exist")
    meta_path, trials_path, hist_path = path / "study.json", path / "trials.csv", path / "history.csv"
    if not meta_path.exists() and not trials_path.exists():
        raise ValueError(f"{str(path)!r} is not a study directory: it has neither study.json nor trials.csv")
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta_path} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    spec = meta.get("spec", {}) or {}
    if not isinstance(spec, dict):
        raise ValueError(f"{meta_path}: `spec` must be a JSON object, got {type(spec).__name__}")
    raw = _read_csv(trials_path) if trials_path.exists() else pd.DataFrame()
    trials = normalize_trials(raw if len(raw.columns) else pd.DataFrame(columns=list(REQUIRED)), str(trials_path))
    raw_hist = _read_csv(hist_path) if hist_path.exists() else pd.DataFrame()
    history = normalize_history(raw_hist if len(raw_hist.columns) else pd.DataFrame(columns=list(HISTORY_REQUIRED)))
    tasks = list(dict.fromkeys(spec_names(spec.get("tasks")) + trials["task"].dropna().tolist()))
    optimizers = list(dict.fromkeys(spec_names(spec.get("optimizers")) + trials["optimizer"].dropna().tolist()))
    spec, notes = spec_defaults(spec, trials)
    if isinstance(meta.get("tune_batch"), int):  # the tune phase's largest TPE batch (study/bundles.py)
        spec["tune_batch"] = meta["tune_batch"]
    if not meta.get("name"):
        notes.append(f"study.json gives no name: the study is named after its directory, {path.name!r}.")
    name = str(meta.get("name") or path.name)
    phases = meta.get("phases") if isinstance(meta.get("phases"), dict) else {}
    caps = meta.get("batch_caps") if isinstance(meta.get("batch_caps"), dict) else {}
    retries = _read_csv(path / "retries.csv") if (path / "retries.csv").exists() else pd.DataFrame()
    ladder = meta.get("ladder") if isinstance(meta.get("ladder"), dict) else {}
    return Study(path, name, spec, phases, trials, history, tasks, optimizers, notes, caps, retries, ladder)
