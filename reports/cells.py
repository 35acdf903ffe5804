"""Per-cell (task x optimizer) tables: summary.csv, emp.csv and importance.csv.

Which numbers each summary column holds:
- best_score: the best validation score of the cell's tune trials;
- test_*: confirm phase (best tune config on fresh seeds), test score, mean and 95% Student-t CI
  (cut to the score's range, see stats.score_range);
- default_*: the optimizer's default point under the fair protocol, test score;
- paper_*: the paper point under the paper protocol, `score` (what that protocol measures, e.g.
  accuracy on the training images for ThermoLion's); paper_fair_*: the paper point under the fair
  protocol, test score;
- iid_within_1/5, iid_iqr: sensitivity over the i.i.d. tune trials (see metrics.sensitivity).
- selection_gap = best_score - confirm_val_mean (the winner's curse: how optimistic picking the best
  of many tune trials was), val_test_gap = confirm_val_mean - test_mean;
- range_edge: hyperparameters whose best value sits at the edge of the searched range.
Diverged trials are at the task's chance score everywhere; errored i.i.d. tune trials count at
chance in expected max and sensitivity (an optimizer that crashes in part of its space must not
look better for it), and are left out of best_score and the phase means.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from reports import metrics, stats
from reports.importance import MIN_TRIALS, param_importances
from reports.load import Study, spec_names

SUMMARY_COLUMNS = [
    "task", "optimizer", "state", "n_trials", "n_planned", "n_iid", "n_ok", "n_diverged", "n_errors",
    "diverge_rate", "error_rate", "chance", "best_score", "best_trial_id", "best_config",
    "test_n", "test_mean", "test_ci_low", "test_ci_high", "test_std",
    "default_n", "default_mean", "default_ci_low", "default_ci_high",
    "paper_n", "paper_mean", "paper_ci_low", "paper_ci_high",
    "paper_fair_n", "paper_fair_mean", "paper_fair_ci_low", "paper_fair_ci_high",
    "iid_within_1", "iid_within_5", "iid_iqr", "top_hparams", "time_per_step",
    "n_iid_errors", "n_iid_diverged", "test_n_diverged", "test_n_errors", "confirm_val_mean", "selection_gap",
    "val_test_gap", "range_edge",
]
EDGE_SHARE = 0.05  # a best value in the outer 5% of a searched range (log scale where log) is at its edge


def _jsonable(v):
    return v.item() if isinstance(v, np.generic) else v


def _best_config(row: pd.Series) -> str:
    hp = {k[3:]: _jsonable(v) for k, v in row.items() if k.startswith("hp_") and pd.notna(v)}
    return json.dumps(hp, sort_keys=True)


def _ci(prefix: str, values: pd.Series, bounds: tuple[float, float]) -> dict:
    mean, low, high = (float(v) for v in stats.t_interval(values.to_numpy(dtype=float), bounds=bounds))
    return {f"{prefix}_n": int(np.isfinite(values.to_numpy(dtype=float)).sum()), f"{prefix}_mean": mean,
            f"{prefix}_ci_low": low, f"{prefix}_ci_high": high}


def range_edges(tune: pd.DataFrame, best: pd.Series) -> str:
    """Numeric hyperparameters whose best value sits at the edge of the range the tune trials
    searched (observed min..max, log scale when positive and spanning > 20x): 'lr (high), ...'.

    Such a cell's search range was too narrow for that optimizer, so the comparison is not fair to it.
    """
    edges = []
    for col in [c for c in tune.columns if c.startswith("hp_")]:
        x = pd.to_numeric(tune[col], errors="coerce").dropna().to_numpy(float)
        v = pd.to_numeric(pd.Series([best.get(col)]), errors="coerce").iloc[0]
        if np.unique(x).size <= 8 or not np.isfinite(v):
            continue
        lo, hi = x.min(), x.max()
        if lo > 0 and hi / lo > 20:
            x, v, lo, hi = np.log(x), np.log(v), np.log(lo), np.log(hi)
        side = "low" if v <= lo + EDGE_SHARE * (hi - lo) else "high" if v >= hi - EDGE_SHARE * (hi - lo) else ""
        if side:
            edges.append(f"{col[3:]} ({side})")
    return ", ".join(edges)


def _state(study: Study, tune: pd.DataFrame, confirm: pd.DataFrame, rows: pd.DataFrame) -> str:
    """not run (no rows) / incomplete (fewer tune trials or confirm runs than planned) / complete.

    Without a spec, one tune trial and one confirm run are the plan; a phase the spec's `phases`
    leave out is not required.
    """
    if rows.empty:
        return "not run"
    phases = study.spec.get("phases", ["tune", "confirm"])
    planned = study.spec.get("trials", 1) if "tune" in phases else 0
    seeds = study.spec.get("seeds", 1) if "confirm" in phases else 0
    return "incomplete" if len(tune) < int(planned) or len(confirm) < int(seeds) else "complete"


def cell_summary(study: Study, task: str, opt: str, rows: pd.DataFrame) -> tuple[dict, pd.DataFrame, dict]:
    """(summary row, emp rows, importances) for one cell's trial rows."""
    phase, protocol = rows["phase"].to_numpy(), rows["protocol"].to_numpy()
    tune, confirm, default = rows[phase == "tune"], rows[phase == "confirm"], rows[phase == "default"]
    paper = rows[(phase == "paper") & (protocol == "paper")]
    paper_fair = rows[(phase == "paper") & (protocol == "fair")]
    iid = tune[tune["iid"].to_numpy(dtype=bool)]
    failed = iid["status"].isin(["error", "timeout"])
    iid_scores = pd.Series(np.where(failed, iid["chance"], iid["value"]), index=iid.index)  # errors and timeouts at chance
    n = len(tune)
    status = tune["status"]
    out = {"task": task, "optimizer": opt, "state": _state(study, tune, confirm, rows), "n_trials": n,
           "n_planned": study.spec.get("trials", np.nan), "n_iid": int(np.isfinite(iid_scores.to_numpy(dtype=float)).sum()),
           "n_ok": int((status == "ok").sum()), "n_diverged": int((status == "diverged").sum()),
           "n_errors": int(status.isin(["error", "timeout"]).sum()),
           "chance": float(rows["chance"].median()) if len(rows) else np.nan}
    out["diverge_rate"] = out["n_diverged"] / n if n else np.nan
    out["error_rate"] = out["n_errors"] / n if n else np.nan
    scored = tune[np.isfinite(tune["value"].to_numpy(dtype=float))]
    if len(scored):
        best = scored.loc[scored["value"].idxmax()]
        out.update(best_score=float(best["value"]), best_trial_id=str(best["trial_id"]), best_config=_best_config(best),
                   range_edge=range_edges(tune, best))
    else:
        out.update(best_score=np.nan, best_trial_id="", best_config="", range_edge="")
    bounds = stats.score_range(out["chance"])  # intervals stay inside the score's range
    out.update(_ci("test", confirm["test_value"], bounds))
    out["test_std"] = float(confirm["test_value"].std()) if out["test_n"] > 1 else np.nan
    out.update(_ci("default", default["test_value"], bounds))
    out.update(_ci("paper", paper["value"], bounds))
    out.update(_ci("paper_fair", paper_fair["test_value"], bounds))
    out.update(n_iid_errors=int(failed.sum()), n_iid_diverged=int((iid["status"] == "diverged").sum()),
               test_n_diverged=int((confirm["status"] == "diverged").sum()),
               test_n_errors=int(confirm["status"].isin(["error", "timeout"]).sum()))
    out["confirm_val_mean"] = float(confirm["value"].mean()) if confirm["value"].notna().any() else np.nan
    out["selection_gap"] = out["best_score"] - out["confirm_val_mean"]  # winner's curse: best tune val vs its re-runs
    out["val_test_gap"] = out["confirm_val_mean"] - out["test_mean"]
    sens = metrics.sensitivity(iid_scores, out["best_score"])
    out.update(iid_within_1=sens["within_1"], iid_within_5=sens["within_5"], iid_iqr=sens["iqr"])
    imp = param_importances(tune) if len(tune) else {}
    n_scored = int(np.isfinite(tune["value"].to_numpy(dtype=float)).sum())
    out["top_hparams"] = (", ".join(f"{k} {v:.2f}" for k, v in list(imp.items())[:3]) if imp
                          else f"not enough trials ({n_scored} < {MIN_TRIALS})" if 0 < n_scored < MIN_TRIALS else "")
    out["time_per_step"] = float(rows["time_per_step"].median()) if "time_per_step" in rows and len(rows) else np.nan
    curve, low, high = metrics.expected_max_band(iid_scores)
    emp = pd.DataFrame({"task": task, "optimizer": opt, "k": np.arange(1, len(curve) + 1), "expected_max": curve,
                        "band_low": low, "band_high": high, "n_iid": len(curve)})
    return out, emp, imp


def cell_tables(study: Study) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(summary, emp, importance) over every cell of the spec and every cell with rows."""
    groups = {key: grp for key, grp in study.trials.groupby(["task", "optimizer"], sort=False)}
    empty = study.trials.iloc[0:0]
    planned_tasks, planned_opts = set(spec_names(study.spec.get("tasks"))), set(spec_names(study.spec.get("optimizers")))
    summary, emps, imps = [], [], []
    for task in study.tasks:
        for opt in study.optimizers:
            rows = groups.get((task, opt), empty)
            if rows.empty and (task not in planned_tasks or opt not in planned_opts):
                continue  # a task and an optimizer that never met in the spec: not a cell
            s, emp, imp = cell_summary(study, task, opt, rows)
            summary.append(s)
            emps.append(emp)
            imps.extend({"task": task, "optimizer": opt, "param": k, "importance": v} for k, v in imp.items())
    summary_df = pd.DataFrame(summary, columns=SUMMARY_COLUMNS)
    emp_cols = ["task", "optimizer", "k", "expected_max", "band_low", "band_high", "n_iid"]
    emp_df = pd.concat(emps, ignore_index=True) if emps else pd.DataFrame(columns=emp_cols)
    return summary_df, emp_df[emp_cols], pd.DataFrame(imps, columns=["task", "optimizer", "param", "importance"])
