"""Ray Tune results -> the study's records (trials.csv, history.csv; columns in docs/ARCHITECTURE.md).

Each phase's rows are kept in `records/<phase>.csv` and `records/<phase>_history.csv`, written
atomically once the phase's Tuner finishes; `trials.csv` and `history.csv` are their union.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from study.bundles import BUNDLE_KEYS, ConfigResult

TRIAL_COLUMNS = [
    "trial_id", "phase", "task", "optimizer", "protocol", "seed", "status", "score", "test_score",
    "chance", "iid", "train_loss", "steps", "wall_time", "time_per_step", "epochs_done", "error",
    "device_name", "device_kind", "device_share",
]
FAILED = ("error", "timeout")  # statuses without a score (counted, not scored, in the report)
PHASE_FILES = ("tune", "fixed")  # one Tuner each; `fixed` holds the confirm, default and paper phases
RUNGS = "rungs"  # records/rungs.csv: trial_id -> the ladder rung(s) it belongs to
RESULT_KEYS = ("score", "test_score", "chance", "train_loss", "steps", "wall_time", "time_per_step", "epochs_done",
               "device_share")
TEXT_KEYS = ("device_name", "device_kind")
# The runner's named results kept as extra columns (e.g. MNLI's test_acc_mm, GLUE's truncated_train).
NAMED_RESULT_PREFIXES = ("val_", "test_", "truncated_")
# Keys Ray adds to every result, the adapter's own flags and bundle tags and the task's constant chance level (in
# trials.csv): not part of the per-epoch history.
RAY_KEYS = {
    "timestamp", "time_this_iter_s", "time_total_s", "training_iteration", "pid", "node_ip",
    "time_since_restore", "iterations_since_restore", "checkpoint_dir_name", "done", "final",
    "trial_id", "date", "hostname", "config", "should_checkpoint", "chance",
} | BUNDLE_KEYS


HISTORY_COLUMNS = ["trial_id", "phase", "task", "optimizer", "epoch", "key", "value"]


def _error_line(error) -> str:
    """The exception's own line: the last line of the text Ray gives (a traceback)."""
    text = str(error).strip().splitlines()
    return text[-1][:300] if text else type(error).__name__


def _number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _is_false(value) -> bool:
    return isinstance(value, (bool, np.bool_)) and not value


def trial_row(trial_id: str, config: dict, metrics: dict, error) -> dict:
    """One trials.csv row from a trial's config, its last reported metrics and its error (if any)."""
    row = {
        "trial_id": trial_id, "phase": config["phase"], "task": config["task"], "optimizer": config["optimizer"],
        "protocol": config.get("protocol", "fair"), "seed": config.get("seed"),
        "iid": bool(config.get("iid", False)),
    }
    finished = metrics.get("final") is True
    if error is not None or not finished:
        row["status"] = "error"
        row["error"] = _error_line(error) if error is not None else "trial ended without a final result"
        row["score"] = math.nan
    else:
        row["status"] = metrics.get("status", "ok")
        row["error"] = metrics.get("error") or ""
        if row["status"] in FAILED:  # a config error or a timeout: the cause is kept, the score is not
            row["score"] = math.nan
    for key in RESULT_KEYS:
        if key not in row:
            value = metrics.get(key) if finished else None
            row[key] = value if isinstance(value, (int, float)) else math.nan
    for key in TEXT_KEYS:
        row[key] = str(metrics.get(key, "")) if finished else ""
    if finished and row["status"] != "error":
        row.update({k: v for k, v in metrics.items() if k.startswith(NAMED_RESULT_PREFIXES) and k not in row
                    and _number(v)})
    for name in config.get("_hps", ()):
        row[f"hp_{name}"] = config.get(name)
    return row


def history_rows(trial_id: str, config: dict, reports: list[dict]) -> list[tuple]:
    """The per-epoch reports of one trial as HISTORY_COLUMNS tuples, key by key, epochs in order
    (floats, as a trial's reports give them in a DataFrame, where its final report has no epoch).

    Plain Python over the trial's reports, not a DataFrame per trial: a study of thousands of
    configurations spent ~30 s in per-trial pandas calls here before its records were written."""
    if any("final" in r for r in reports):
        reports = [r for r in reports if _is_false(r.get("final"))]
    reports = [r for r in reports if _number(r.get("epoch"))]
    # a retried trial reports its epochs again, from 1 or from its checkpoint: keep a report only if no
    # later one goes back to its epoch or before (the last attempt's, and what it resumed from)
    kept, later_min = [], math.inf
    for report in reversed(reports):
        if report["epoch"] < later_min:
            kept.append(report)
        later_min = min(later_min, report["epoch"])
    kept.reverse()
    keys = [k for k in dict.fromkeys(k for r in reports for k in r)
            if k != "epoch" and k not in RAY_KEYS and not k.startswith("config/")]
    head = (trial_id, config["phase"], config["task"], config["optimizer"])
    rows = []
    for key in keys:
        for report in kept:
            value = report.get(key)
            if key == "score" and _is_false(report.get("evaluated")):
                continue  # an epoch without evaluation: its score is only Tune's placeholder
            if _number(value) and not math.isnan(value):
                rows.append((*head, float(report["epoch"]), key, float(value)))
    return rows


def epoch_reports(result) -> list[dict]:
    """A trial's reports in order: a bundle's configuration carries its own (study.bundles.ConfigResult),
    a Tune Result of one configuration its metrics DataFrame."""
    if isinstance(result, ConfigResult):
        return result.reports
    frame = result.metrics_dataframe
    return [] if frame is None or frame.empty else frame.to_dict("records")


def rows_from_results(results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Finished trials (Tune Results, or a bundle's study.bundles.ConfigResults) -> (trials, history)."""
    rows, history = [], []
    for result in results:
        config = result.config or {}
        config = config.get("trial", config)  # the fixed phase nests each config under "trial"
        metrics = result.metrics or {}
        # the study's own ids (stable in the fixed phase), else Ray's
        trial_id = config.get("_trial_id") or metrics.get("trial_id") or Path(result.path).name
        rows.append(trial_row(trial_id, config, metrics, result.error))
        history += history_rows(trial_id, config, epoch_reports(result))
    trials = pd.DataFrame(rows)
    ordered = TRIAL_COLUMNS + sorted(c for c in trials.columns if c not in TRIAL_COLUMNS)
    trials = trials.reindex(columns=ordered)
    return trials, pd.DataFrame(history, columns=HISTORY_COLUMNS)


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def write_phase(study_dir: Path, phase: str, trials: pd.DataFrame, history: pd.DataFrame) -> None:
    """Store one phase's records and rebuild trials.csv / history.csv from all phases."""
    folder = study_dir / "records"
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(trials, folder / f"{phase}.csv")
    _write_atomic(history, folder / f"{phase}_history.csv")
    merge(study_dir)


def read_phase(study_dir: Path, phase: str) -> pd.DataFrame | None:
    path = study_dir / "records" / f"{phase}.csv"
    return pd.read_csv(path, dtype={"trial_id": str}) if path.exists() else None


def best_row(rows: pd.DataFrame | None, task: str, optimizer: str) -> pd.Series | None:
    """A cell's best ok trial by validation score (ties: the earlier row), or None if it has none."""
    if rows is None or rows.empty:
        return None
    cell = rows[(rows["task"] == task) & (rows["optimizer"] == optimizer) & (rows["status"] == "ok")]
    return None if cell.empty else cell.sort_values("score", ascending=False, kind="stable").iloc[0]


def round_files(folder: Path) -> list[str]:
    """The later rounds of seeds of a `--seeds auto` study (`fixed_r2`, `fixed_r3`, ...), in order."""
    names = [p.stem for p in folder.glob("fixed_r*.csv") if not p.stem.endswith("_history")]
    return sorted(names, key=lambda n: int(n[len("fixed_r"):]))


def phase_files(folder: Path) -> list[str]:
    """The phases with records in `folder`: tune, fixed, its rounds, then a ladder's (`tune-<names>`,
    `ladder-<n>`)."""
    rounds = round_files(folder)
    extra = sorted(p.stem for p in folder.glob("*.csv") if p.stem not in (*PHASE_FILES, *rounds, RUNGS)
                   and not p.stem.endswith("_history"))
    return [*PHASE_FILES, *rounds, *extra]


def write_rungs(study_dir: Path, rungs: dict[str, list[str]]) -> None:
    """Which ladder rung(s) each trial belongs to (study.ladder), kept as trials.csv's `rung` column."""
    folder = study_dir / "records"
    folder.mkdir(parents=True, exist_ok=True)
    owners: dict[str, list[str]] = {}
    for rung, ids in rungs.items():
        for trial_id in ids:
            owners.setdefault(trial_id, []).append(rung)
    frame = pd.DataFrame({"trial_id": list(owners), "rung": [" ".join(r) for r in owners.values()]})
    _write_atomic(frame, folder / f"{RUNGS}.csv")
    merge(study_dir)


def merge(study_dir: Path) -> None:
    """trials.csv and history.csv = the union of the phases written so far (trials.csv with each
    trial's ladder `rung`, where the study has a ladder)."""
    folder = study_dir / "records"
    rungs = folder / f"{RUNGS}.csv"
    for out, suffix in (("trials.csv", ""), ("history.csv", "_history")):
        paths = [folder / f"{phase}{suffix}.csv" for phase in phase_files(folder)]
        parts = [pd.read_csv(p, dtype={"trial_id": str}) for p in paths if p.exists()]
        parts = [p for p in parts if not p.empty]
        if parts:
            frame = pd.concat(parts, ignore_index=True)
            if not suffix and rungs.exists():
                owner = pd.read_csv(rungs, dtype=str).set_index("trial_id")["rung"]
                frame["rung"] = frame["trial_id"].map(owner)
            _write_atomic(frame, study_dir / out)
