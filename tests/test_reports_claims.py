"""The papers' published numbers (reports/data) and the claim checks built on them."""
import numpy as np
import pandas as pd
import pytest

from reports import claims
from reports.load import normalize_trials
from study.tasks import parse_task

OUR_OPTIMIZERS = {"thermolion", "adamw", "adam", "lion", "rmsprop", "swats", "lookahead", "swa", "muadam_paper",
                  "sepnorm", "ortsepnorm"}


@pytest.fixture(scope="module")
def pub():
    return claims.published()


def test_published_tables_are_complete_and_use_our_names(pub):
    sizes = pub.groupby(["paper", "table"]).size().to_dict()
    assert sizes == {("thermolion", 1): 40, ("thermolion", 2): 21, ("thermolion", 3): 18, ("sepnorm", 3): 48}
    assert set(pub["optimizer"]) <= OUR_OPTIMIZERS
    for task in pub["task"].unique():
        parse_task(task)  # every task name is one the study accepts
    assert not pub.duplicated(["paper", "table", "task", "optimizer", "metric"]).any()


@pytest.mark.parametrize("paper,table,task,opt,metric,value,std", [
    ("thermolion", 1, "gtsrb", "thermolion", "train_acc", 87.98, np.nan),
    ("thermolion", 1, "cifar100", "adam", "train_acc", 29.54, np.nan),
    ("thermolion", 1, "svhn", "muadam_paper", "train_acc", 19.50, np.nan),
    ("thermolion", 2, "qmnist", "muadam_paper", "train_acc", 100.0, np.nan),
    ("thermolion", 3, "stl10", "thermolion", "wall_time_s", 31.27, np.nan),
    ("sepnorm", 3, "glue-cola", "sepnorm", "mcc", 61.8, 1.1),
    ("sepnorm", 3, "glue-mrpc", "ortsepnorm", "acc", 91.9, 0.6),
    ("sepnorm", 3, "glue-mnli", "lion", "acc_mm", 87.1, 0.1),
])
def test_published_spot_values(pub, paper, table, task, opt, metric, value, std):
    row = pub[(pub["paper"] == paper) & (pub["table"] == table) & (pub["task"] == task) & (pub["optimizer"] == opt)
              & (pub["metric"] == metric)]
    assert len(row) == 1 and row["value"].iloc[0] == value
    assert np.isnan(std) and np.isnan(row["std"].iloc[0]) or row["std"].iloc[0] == std


def test_derived_claims_follow_the_papers_own_ordering(pub):
    c = claims.derive_claims(pub)
    counts = c.groupby(["paper", "table", "kind"]).size().to_dict()
    # T1: ThermoLion above all 7 baselines on 5 datasets; T2: above Adam and MuAdam on 7, except MuAdam on QMNIST
    assert counts == {("sepnorm", 3, "beats"): 23, ("thermolion", 1, "beats"): 35, ("thermolion", 2, "beats"): 13,
                      ("thermolion", 3, "time"): 3}
    pairs = set(zip(c["optimizer"], c["baseline"], c["task"]))
    assert ("thermolion", "muadam_paper", "qmnist") not in pairs
    assert ("sepnorm", "adamw", "glue-sst2") not in pairs  # a tie in the paper: no claim
    assert ("ortsepnorm", "lion", "glue-sst2") in pairs
    assert ("sepnorm", "ortsepnorm", "glue-cola") not in pairs  # proposed vs proposed is not a claim
    assert c["claim_id"].is_unique


@pytest.mark.parametrize("kind,n_a,n_b,low,high,expected", [
    ("beats", 3, 3, 0.1, 2.0, "holds"),
    ("beats", 3, 3, -2.0, -0.1, "does not hold"),
    ("beats", 3, 3, -0.5, 0.5, "within noise"),
    ("beats", 1, 3, np.nan, np.nan, "too few runs"),
    ("beats", 0, 3, np.nan, np.nan, "not run"),
    ("time", 3, 3, 1.00, 1.04, "holds"),
    ("time", 3, 3, 1.06, 1.10, "does not hold"),
    ("time", 3, 3, 1.00, 1.10, "within noise"),
])
def test_verdict_rule(kind, n_a, n_b, low, high, expected):
    assert claims.verdict(kind, n_a, n_b, low, high) == expected


def _runs(phase, protocol, opt, scores, tests, time_per_step=0.01, task="cifar10"):
    return [{"trial_id": f"{phase}-{protocol}-{opt}-{i}", "phase": phase, "task": task, "optimizer": opt, "protocol": protocol,
             "seed": i, "status": "ok", "score": s, "test_score": t, "chance": 10.0, "time_per_step": time_per_step}
            for i, (s, t) in enumerate(zip(scores, tests))]


def test_check_claims_under_both_settings():
    rows = (_runs("paper", "paper", "thermolion", [80, 81, 82], [50, 50, 50], 0.0101)
            + _runs("paper", "paper", "adam", [60, 61, 62], [50, 50, 50], 0.0100)
            + _runs("confirm", "fair", "thermolion", [0, 0, 0], [70, 71, 72])
            + _runs("confirm", "fair", "adam", [0, 0, 0], [74, 75, 76])
            + _runs("paper", "paper", "adamw", [70], [50])
            + _runs("confirm", "fair", "adamw", [0, 0], [70, 72]))
    rows[-1]["status"] = "diverged"  # counts at chance (10), never dropped
    res = claims.check_claims(normalize_trials(pd.DataFrame(rows))).set_index("claim_id")
    adam = res.loc["thermolion-T1-cifar10-thermolion-adam"]
    assert adam["paper_verdict"] == "holds" and adam["paper_delta"] == pytest.approx(20.0) and adam["paper_protocol"] == "paper"
    assert adam["fair_verdict"] == "does not hold" and adam["fair_delta"] == pytest.approx(-4.0)
    adamw = res.loc["thermolion-T1-cifar10-thermolion-adamw"]
    assert adamw["paper_verdict"] == "too few runs" and adamw["paper_delta"] == pytest.approx(11.0)
    assert adamw["fair_ours_baseline"] == pytest.approx(40.0)  # (70 + chance 10) / 2
    assert res.loc["thermolion-T1-cifar10-thermolion-lion", "fair_verdict"] == "not run"
    assert res.loc["thermolion-T1-gtsrb-thermolion-adam", "paper_verdict"] == "not run"
    timing = res.loc["thermolion-T3-cifar10-thermolion-adam"]
    assert timing["paper_delta"] == pytest.approx(1.01) and timing["paper_verdict"] == "holds"


def test_notes_name_the_known_protocol_issues(pub):
    c = claims.derive_claims(pub)
    notes = " ".join(claims.notes_for(c[c["paper"] == "thermolion"]))
    assert "training data" in notes and "60 steps" in notes and "Adam variant" in notes and "SWATS" in notes
    assert claims.notes_for(c[(c["paper"] == "sepnorm")]) == claims.PROTOCOL_NOTES["sepnorm"]
