"""`python -m study status DIR`: where a study stands, read-only and safe while it runs.

Per phase and cell: trials done, running, errored (errors and timeouts), remaining, and the best
score so far. Finished phases come from the records; the phase in progress from Ray Tune's
experiment state in `<study>/ray/<tune|fixed>` (the file the driver checkpoints). The lock names
the driver holding the study, if any.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from study import records
from study.bundles import final_reports, trial_states
from study.errors import SpecError
from study.lock import read_lock, stale_reason
from study.spec import StudySpec, is_uri

COLUMNS = ["phase", "task", "optimizer", "done", "running", "errored", "remaining", "best"]


def _ray_trials(spec: StudySpec, phase_file: str) -> list[dict]:
    """{phase, task, optimizer, state, status, score} of each trial Tune knows in a phase; status is
    None until it finished, "unknown" for a finished one whose final report is not readable yet."""
    import os

    from ray.tune import ExperimentAnalysis

    path = f"{spec.ray_storage}/{phase_file}"
    if not (is_uri(path) or os.path.isdir(path)):
        return []
    try:
        analysis = ExperimentAnalysis(path)
    except Exception:  # noqa: BLE001 - no state written yet, or one cut short: nothing to show
        return []
    out = []
    for trial in analysis.trials:  # a bundle: each of its configurations (study.bundles.trial_states)
        finals = final_reports(trial) if "bundle" in trial.config else {}
        # (trial_states leaves out only the configurations handed back, the last ones: an index is the bundle's)
        for index, (config, state, result) in enumerate(trial_states(trial.config, trial.status, trial.last_result)):
            status = None
            if state == "TERMINATED":  # its own final report; none found (result.json not synced yet): unknown
                result = finals.get(index, result)
                status = (result.get("status") or "ok") if result else "unknown"
            out.append({"phase": config.get("phase"), "task": config.get("task"), "optimizer": config.get("optimizer"),
                        "state": state, "status": status, "score": (result or {}).get("score")})
    return out


def status_table(study_dir: Path) -> pd.DataFrame:
    """One row per (phase, task, optimizer) with the COLUMNS above."""
    from study.launch import load_state, tuner_phases
    from study.plan import planned_configs

    state = load_state(study_dir)
    spec = StudySpec(**state["spec"])
    planned = Counter((c["phase"], c["task"], c["optimizer"]) for c in planned_configs(spec))
    if state.get("fixed_configs") is not None:  # the exact fixed list, once the driver has written it
        for key in [k for k in planned if k[0] != "tune"]:
            del planned[key]
        planned.update((c["phase"], c["task"], c["optimizer"]) for c in state["fixed_configs"])
    rounds = state.get("rounds", [])  # --seeds auto: the later rounds' trials (study/rounds.py)
    planned.update((c["phase"], c["task"], c["optimizer"]) for r in rounds for c in r["configs"])
    trials = []
    for phase_file in (*records.PHASE_FILES, *(r["name"] for r in rounds)):
        rows = records.read_phase(study_dir, phase_file)
        finished = phase_file in records.PHASE_FILES and all(
            state["phases"].get(p) == "done" for p in tuner_phases(spec.phases, phase_file))
        if rows is not None and (finished or phase_file not in records.PHASE_FILES):
            trials += [{"phase": r.phase, "task": r.task, "optimizer": r.optimizer, "state": "TERMINATED",
                        "status": r.status, "score": r.score} for r in rows.itertuples()]
        else:
            trials += _ray_trials(spec, phase_file)
    table = []
    for (phase, task, optimizer), n in planned.items():
        mine = [t for t in trials if (t["phase"], t["task"], t["optimizer"]) == (phase, task, optimizer)]
        failed = [t for t in mine if t["state"] == "ERROR" or t["status"] in records.FAILED]
        done = [t for t in mine if t["status"] is not None and t not in failed]
        running = [t for t in mine if t["state"] == "RUNNING" and t["status"] is None]
        scores = [t["score"] for t in done if t["status"] == "ok" and isinstance(t["score"], (int, float))
                  and math.isfinite(t["score"])]
        table.append({"phase": phase, "task": task, "optimizer": optimizer, "done": len(done),
                      "running": len(running), "errored": len(failed),
                      "remaining": max(0, n - len(done) - len(failed) - len(running)),
                      "best": max(scores) if scores else math.nan})
    return pd.DataFrame(table, columns=COLUMNS)


def print_status(study_dir: Path) -> int:
    if not (study_dir / "study.json").is_file():
        raise SpecError(f"status: {study_dir} is not a study directory (no study.json)")
    from study.launch import load_state

    table = status_table(study_dir)
    state = load_state(study_dir)
    holder = read_lock(study_dir)
    if holder is None:
        print(f"study {study_dir.name}: no driver running")
    else:
        stale = stale_reason(holder)
        beat = time.time() - float(holder.get("heartbeat", 0))
        print(f"study {study_dir.name}: driver pid {holder.get('pid')} on {holder.get('host')}, "
              f"heartbeat {beat:.0f} s ago" + (f" (stale: {stale})" if stale else ""))
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.1f}"))
    rounds, spec = state.get("rounds", []), state["spec"]
    if spec.get("seeds_max"):
        print(f"seeds auto ({spec['seeds']} to {spec['seeds_max']} per cell): round {len(rounds) + 1}"
              + (f", {len(rounds[-1]['configs'])} more trials because:" if rounds else ""))
        for line in rounds[-1]["why"] if rounds else []:
            print(f"  {line}")
    totals = table[["done", "running", "errored", "remaining"]].sum()
    print(f"total: {totals['done']} done, {totals['running']} running, {totals['errored']} errored, "
          f"{totals['remaining']} remaining")
    return 0
