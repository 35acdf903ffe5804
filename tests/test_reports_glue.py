"""The GLUE average (hand-checked) and the GLUE table of the report."""
import math

import pandas as pd
import pytest

from reports.glue import glue_average, glue_table, selection_note
from reports.load import normalize_trials


def test_glue_average_by_hand():
    # (50 + (80 + 90) / 2 + 70) / 3: MNLI counts once, as the mean of m and mm
    assert glue_average({"glue-cola": 50.0, "glue-mnli": (80.0, 90.0), "glue-rte": 70.0}) == pytest.approx(205 / 3)
    assert glue_average({"glue-sst2": 94.6}) == pytest.approx(94.6)
    assert math.isnan(glue_average({"glue-cola": 50.0, "glue-rte": float("nan")}))
    assert math.isnan(glue_average({}))


def _row(phase, protocol, task, opt, seed, test, status="ok", mm=None):
    return {"trial_id": f"{phase}-{protocol}-{task}-{opt}-{seed}", "phase": phase, "protocol": protocol, "task": task,
            "optimizer": opt, "seed": seed, "status": status, "score": test, "test_score": test,
            "chance": 100 / 3 if task == "glue-mnli" else 0.0, "test_acc_mm": mm}


def test_glue_table_means_runs_then_tasks():
    rows = [_row("confirm", "fair", "glue-cola", "adamw", 0, 40.0), _row("confirm", "fair", "glue-cola", "adamw", 1, 50.0),
            _row("confirm", "fair", "glue-mnli", "adamw", 0, 80.0, mm=0.90),
            _row("confirm", "fair", "glue-mnli", "adamw", 1, 0.0, status="diverged"),  # counts at chance
            _row("paper", "paper", "glue-cola", "adamw", 0, 60.0),
            _row("confirm", "fair", "glue-cola", "lion", 0, 30.0)]  # lion has no MNLI run: no average
    trials = normalize_trials(pd.DataFrame(rows))
    table = glue_table(trials, ["glue-cola", "glue-mnli", "digits"]).set_index(["setting", "optimizer"])
    adamw = table.loc[("tuned (confirm)", "adamw")]
    mnli_m, mnli_mm = (80 + 100 / 3) / 2, (90 + 100 / 3) / 2
    assert adamw["glue-cola"] == pytest.approx(45.0)
    assert adamw["glue-mnli"] == pytest.approx(mnli_m) and adamw["glue-mnli (mm)"] == pytest.approx(mnli_mm)
    assert adamw["GLUE avg"] == pytest.approx((45.0 + (mnli_m + mnli_mm) / 2) / 2)
    assert math.isnan(table.loc[("tuned (confirm)", "lion"), "GLUE avg"])
    assert math.isnan(table.loc[("paper point, paper protocol", "adamw"), "GLUE avg"])  # no MNLI there
    assert table.loc[("paper point, paper protocol", "adamw"), "glue-cola"] == 60.0
    assert "digits" not in table.columns


def test_selection_note_names_the_choice():
    assert "t5-base" in selection_note({}) and "train-holdout" in selection_note({})
    note = selection_note({"task_config": {"selection": "dev-split", "model": "t5-v1_1-base"}})
    assert "dev-split" in note and "t5-v1_1-base" in note and "half" in note
